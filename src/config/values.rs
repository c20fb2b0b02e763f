//! Config value types that carry their unit in the text (`"18m"`, `"50B"`), deserialized so
//! that a malformed value is reported at its own line by the TOML parser.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

use crate::units::{Time, horizon_number_hint, parse_duration, parse_horizon, parse_tokens};

/// A duration written with a unit, e.g. `"30s"`, `"18m"`, `"7d"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Time);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, e.g. \"30s\", \"18m\", \"7d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write a string such as \"{v}s\" or \"{v}m\""
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write a string such as \"{v}s\" or \"{v}h\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// The simulation horizon: a duration longer than 0, e.g. `"7d"`, `"36h"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon(pub Time);

impl<'de> Deserialize<'de> for Horizon {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Horizon;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, e.g. \"7d\", \"36h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Horizon, E> {
                parse_horizon(v).map(Horizon).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Horizon, E> {
                Err(E::custom(horizon_number_hint(&v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Horizon, E> {
                Err(E::custom(horizon_number_hint(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Horizon, E> {
                Err(E::custom(horizon_number_hint(&v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A token count: a number, or a string with a suffix `k`, `M`, `B`, `T`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tokens(pub f64);

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Tokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count, e.g. 5000000 or \"50B\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tokens, E> {
                parse_tokens(v).map(Tokens).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tokens, E> {
                if v < 0 {
                    return Err(E::custom("a token count cannot be negative"));
                }
                Ok(Tokens(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tokens, E> {
                Ok(Tokens(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tokens, E> {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(E::custom(
                        "a token count must be a finite non-negative number",
                    ));
                }
                Ok(Tokens(v))
            }
        }
        d.deserialize_any(V)
    }
}
