//! Maps between positions in a TOML file and key paths (`tenants[2].reserved_gpus.H100`), so
//! that parse errors can name the field and validation errors can name the line.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path into the config, e.g. `training[0].sizes[1].gpus`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(mut self, k: &str) -> Self {
        self.0.push(Seg::Key(k.to_string()));
        self
    }
    pub fn index(mut self, i: usize) -> Self {
        self.0.push(Seg::Index(i));
        self
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |p| offset - p - 1) + 1;
    (line, col)
}

/// Byte span of the value at `path`, or of the deepest ancestor that exists.
pub fn span_of(text: &str, path: &KeyPath) -> Option<std::ops::Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table: Option<&DeTable> = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue>]> = None;
    for seg in &path.0 {
        let next: &Spanned<DeValue> = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => {
                let (key, val) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k)?;
                // The key's own span points at the line where it is written.
                best = Some(key.span());
                val
            }
            (Seg::Index(i), _, Some(a)) => {
                let v = a.get(*i)?;
                best = Some(v.span());
                v
            }
            _ => return best,
        };
        table = None;
        array = None;
        match next.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(&a[..]),
            _ => {}
        }
        // Point at the value for leaves: that is what is wrong.
        if !matches!(next.get_ref(), DeValue::Table(_) | DeValue::Array(_)) {
            best = Some(next.span());
        }
    }
    best
}

/// The deepest key path whose value contains `span` (for errors the parser reports by span).
pub fn path_at(text: &str, span: std::ops::Range<usize>) -> KeyPath {
    let Ok(root) = DeTable::parse(text) else {
        return KeyPath::default();
    };
    let mut path = KeyPath::default();
    walk_table(root.get_ref(), &span, &mut path);
    path
}

fn contains(outer: &std::ops::Range<usize>, inner: &std::ops::Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn walk_table(t: &DeTable, span: &std::ops::Range<usize>, path: &mut KeyPath) {
    for (k, v) in t.iter() {
        if contains(&v.span(), span) || contains(&k.span(), span) {
            path.0.push(Seg::Key(k.get_ref().to_string()));
            walk_value(v.get_ref(), span, path);
            return;
        }
    }
}

fn walk_value(v: &DeValue, span: &std::ops::Range<usize>, path: &mut KeyPath) {
    match v {
        DeValue::Table(t) => walk_table(t, span, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if contains(&item.span(), span) {
                    path.0.push(Seg::Index(i));
                    walk_value(item.get_ref(), span, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[simulation]\nhorizon = \"7d\"\n\n[[pools]]\ngpu_type = \"H100\"\ngpus = 8\n\n[[pools]]\ngpu_type = \"GB200\"\ngpus = 72\n";

    #[test]
    fn finds_line_of_nested_array_field() {
        let p = KeyPath::default().key("pools").index(1).key("gpus");
        let span = span_of(DOC, &p).unwrap();
        assert_eq!(line_col(DOC, span.start).0, 10);
    }

    #[test]
    fn finds_path_of_span() {
        let off = DOC.find("\"GB200\"").unwrap();
        let p = path_at(DOC, off..off + 7);
        assert_eq!(p.to_string(), "pools[1].gpu_type");
    }
}
