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

/// The key path of the smallest key or value that contains `span` (for errors the parser
/// reports by position). Tables written with a `[header]` span only their header, so every
/// node is searched rather than only those whose parent contains the span.
pub fn path_at(text: &str, span: std::ops::Range<usize>) -> KeyPath {
    let Ok(root) = DeTable::parse(text) else {
        return KeyPath::default();
    };
    let mut best: Option<(usize, KeyPath)> = None;
    walk_table(root.get_ref(), &span, &mut KeyPath::default(), &mut best);
    best.map(|b| b.1).unwrap_or_default()
}

fn consider(
    outer: std::ops::Range<usize>,
    inner: &std::ops::Range<usize>,
    path: &KeyPath,
    best: &mut Option<(usize, KeyPath)>,
) {
    let inside = outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end;
    if inside && best.as_ref().is_none_or(|(len, _)| outer.len() <= *len) {
        *best = Some((outer.len(), path.clone()));
    }
}

fn walk_table(
    t: &DeTable,
    span: &std::ops::Range<usize>,
    path: &mut KeyPath,
    best: &mut Option<(usize, KeyPath)>,
) {
    for (k, v) in t.iter() {
        path.0.push(Seg::Key(k.get_ref().to_string()));
        consider(k.span(), span, path, best);
        walk_value(v, span, path, best);
        path.0.pop();
    }
}

fn walk_value(
    v: &Spanned<DeValue>,
    span: &std::ops::Range<usize>,
    path: &mut KeyPath,
    best: &mut Option<(usize, KeyPath)>,
) {
    consider(v.span(), span, path, best);
    match v.get_ref() {
        DeValue::Table(t) => walk_table(t, span, path, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.0.push(Seg::Index(i));
                walk_value(item, span, path, best);
                path.0.pop();
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
    fn finds_path_of_header_table() {
        let doc = "[gpu_types.H100]\nhbm_gb = 80\n";
        let off = doc.find("H100").unwrap();
        assert_eq!(path_at(doc, off..off + 4).to_string(), "gpu_types.H100");
        let off = doc.find("80").unwrap();
        assert_eq!(
            path_at(doc, off..off + 2).to_string(),
            "gpu_types.H100.hbm_gb"
        );
    }

    #[test]
    fn finds_path_of_span() {
        let off = DOC.find("\"GB200\"").unwrap();
        let p = path_at(DOC, off..off + 7);
        assert_eq!(p.to_string(), "pools[1].gpu_type");
    }
}
