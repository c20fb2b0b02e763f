//! The check that every number a report holds is finite: JSON has no infinity or NaN (they
//! would be written as `null`, a silent hole), so a report with one is refused, naming the
//! field. A serializer that writes nothing and only walks the figures.

use serde::Serialize;
use serde::ser::{self, Impossible};

/// The path of the first number in `value` that is not finite, if any (`by_tenant.a.tokens`).
pub fn first_non_finite<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let mut w = Walk::default();
    let _ = value.serialize(&mut w);
    w.found
}

#[derive(Default)]
struct Walk {
    path: Vec<String>,
    found: Option<String>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map key that is not a string")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl Walk {
    fn float(&mut self, v: f64) -> Result<(), Stop> {
        if !v.is_finite() && self.found.is_none() {
            self.found = Some(self.path.join("."));
        }
        Ok(())
    }

    fn nested<T: Serialize + ?Sized>(&mut self, key: String, v: &T) -> Result<(), Stop> {
        self.path.push(key);
        let r = v.serialize(&mut *self);
        self.path.pop();
        r
    }
}

/// Map keys, as text.
struct Key;

/// Key kinds a report never has.
macro_rules! refuse {
    ($($f:ident: $t:ty),*) => { $(fn $f(self, _: $t) -> Result<String, Stop> { Err(Stop) })* };
}

macro_rules! leaf {
    ($($f:ident: $t:ty),*) => { $(fn $f(self, _: $t) -> Result<(), Stop> { Ok(()) })* };
}

impl<'a> ser::Serializer for &'a mut Walk {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = MapWalk<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    leaf!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.nested(variant.into(), v)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        self.path.push("0".into());
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Self, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapWalk<'a>, Stop> {
        Ok(MapWalk {
            walk: self,
            key: String::new(),
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

/// Elements of a sequence: the path's last part counts them.
macro_rules! seq {
    ($tr:ident, $f:ident) => {
        impl ser::$tr for &mut Walk {
            type Ok = ();
            type Error = Stop;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
                v.serialize(&mut **self)?;
                let last = self.path.last_mut().expect("pushed by serialize_seq");
                *last = (last.parse::<usize>().unwrap_or(0) + 1).to_string();
                Ok(())
            }
            fn end(self) -> Result<(), Stop> {
                self.path.pop();
                Ok(())
            }
        }
    };
}
seq!(SerializeSeq, serialize_element);
seq!(SerializeTuple, serialize_element);
seq!(SerializeTupleStruct, serialize_field);
seq!(SerializeTupleVariant, serialize_field);

/// Fields of a struct or a struct variant: the path's last part names them.
macro_rules! fields {
    ($tr:ident) => {
        impl ser::$tr for &mut Walk {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), Stop> {
                self.nested(key.into(), v)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    };
}
fields!(SerializeStruct);
fields!(SerializeStructVariant);

struct MapWalk<'a> {
    walk: &'a mut Walk,
    key: String,
}

impl ser::SerializeMap for MapWalk<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Stop> {
        self.key = k.serialize(Key)?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.walk.nested(std::mem::take(&mut self.key), v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::Serializer for Key {
    type Ok = String;
    type Error = Stop;
    type SerializeSeq = Impossible<String, Stop>;
    type SerializeTuple = Impossible<String, Stop>;
    type SerializeTupleStruct = Impossible<String, Stop>;
    type SerializeTupleVariant = Impossible<String, Stop>;
    type SerializeMap = Impossible<String, Stop>;
    type SerializeStruct = Impossible<String, Stop>;
    type SerializeStructVariant = Impossible<String, Stop>;

    fn serialize_str(self, v: &str) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    refuse!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_u8: u8,
        serialize_u16: u16, serialize_f32: f32, serialize_f64: f64, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_char(self, v: char) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_none(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<String, Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct R {
        a: f64,
        b: Vec<Option<f64>>,
        c: BTreeMap<String, (u32, f64)>,
    }

    #[test]
    fn finds_the_first_non_finite_number_by_its_path() {
        let mut c = BTreeMap::new();
        c.insert("x".to_string(), (1, 2.0));
        let mut r = R {
            a: 1.0,
            b: vec![Some(1.0), None],
            c,
        };
        assert_eq!(first_non_finite(&r), None);
        r.b.push(Some(f64::NAN));
        assert_eq!(first_non_finite(&r).as_deref(), Some("b.2"));
        r.c.insert("y".to_string(), (1, f64::INFINITY));
        r.a = f64::NEG_INFINITY;
        assert_eq!(first_non_finite(&r).as_deref(), Some("a"));
        r.a = 0.0;
        r.b.pop();
        assert_eq!(first_non_finite(&r).as_deref(), Some("c.y.1"));
    }
}
