//! Public workload traces, read as they are: every row is validated, and bad rows are reported
//! with file, line and field rather than silently dropped. Strict by default (a file with bad
//! rows is an error that counts them and shows the first few); lenient mode skips them and
//! returns them for the report.

pub mod azure;
pub mod dirlab;
pub mod gavel;
pub mod mooncake;
pub mod openb;
pub mod servegen;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use crate::units::{Time, from_secs_f64};

/// One inference request: arrival in µs after the trace's first request, prompt and generated
/// tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub at: crate::units::Time,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// A row that could not be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: field `{}`: {}",
            self.line, self.field, self.message
        )
    }
}

/// Rows read from a trace, and the bad rows skipped in lenient mode.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    pub rows: Vec<T>,
    pub skipped: Vec<BadRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{file}: cannot read the trace")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Format {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {count} bad row(s); the first: {}{}", first.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("; "), if *count > first.len() { "; ..." } else { "" })]
    BadRows {
        file: String,
        count: usize,
        first: Vec<BadRow>,
    },
}

/// Finishes a read: in strict mode any bad row is an error naming the first few.
pub(crate) fn finish<T>(
    file: &str,
    rows: Vec<T>,
    bad: Vec<BadRow>,
    lenient: bool,
) -> Result<Loaded<T>, TraceError> {
    if !bad.is_empty() && !lenient {
        return Err(TraceError::BadRows {
            file: file.to_string(),
            count: bad.len(),
            first: bad.into_iter().take(5).collect(),
        });
    }
    Ok(Loaded { rows, skipped: bad })
}

/// Opens a trace file for reading, decompressing it when its name ends in `.gz`.
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read>, TraceError> {
    let f = std::fs::File::open(path).map_err(|source| TraceError::Io {
        file: path.display().to_string(),
        source,
    })?;
    let f = std::io::BufReader::new(f);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    })
}

/// One CSV record with its columns found by header name, so readers name fields, not indexes.
pub(crate) struct Fields<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a [(&'static str, Option<usize>)],
    pub line: u64,
}

impl Fields<'_> {
    /// Fields in the record (the CSV reader allows ragged rows).
    pub fn len(&self) -> usize {
        self.rec.len()
    }

    pub fn bad(&self, field: &str, message: impl Into<String>) -> BadRow {
        BadRow {
            line: self.line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The raw text of a column; empty when the file has no such (optional) column.
    pub fn text(&self, name: &str) -> &str {
        self.cols
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, i)| *i)
            .and_then(|i| self.rec.get(i))
            .map_or("", str::trim)
    }

    /// A column parsed as a number (or any `FromStr`), or a bad row naming the field.
    pub fn num<T: FromStr>(&self, name: &str) -> Result<T, BadRow> {
        let s = self.text(name);
        s.parse().map_err(|_| {
            if s.is_empty() {
                self.bad(name, "missing value")
            } else {
                self.bad(name, format!("`{s}` is not a valid number here"))
            }
        })
    }

    /// A non-negative finite number.
    pub fn non_negative(&self, name: &str) -> Result<f64, BadRow> {
        let v: f64 = self.num(name)?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(self.bad(
                name,
                format!("`{}` must be a finite number >= 0", self.text(name)),
            ))
        }
    }

    /// A time in seconds (a duration, or a time after the trace's start): a finite number from
    /// 0 to [`MAX_SECS`].
    pub fn seconds(&self, name: &str) -> Result<f64, BadRow> {
        let v = self.non_negative(name)?;
        if v > MAX_SECS as f64 {
            return Err(self.bad(name, out_of_range(self.text(name), "s", MAX_SECS)));
        }
        Ok(v)
    }

    /// [`Self::seconds`] in µs (exact to the nearest µs, and never out of range).
    pub fn secs(&self, name: &str) -> Result<Time, BadRow> {
        self.seconds(name).map(from_secs_f64)
    }
}

/// Largest time that a trace may hold, as a duration or as a time after the trace's start: 100
/// years of 365.25 days, in s. A larger value is its row's error naming the field and this
/// range: it is not clamped, it cannot overflow a conversion to µs, and since bad rows never
/// become the reference that later rows are ordered against, one outlier (a corrupt time far
/// in the future) does not make the good rows after it look out of order.
pub const MAX_SECS: u64 = 3_155_760_000;

/// [`MAX_SECS`] in µs.
pub const MAX_TIME: Time = MAX_SECS * crate::units::US_PER_SEC;

/// The message of a time beyond [`MAX_SECS`] (`max` in `unit`).
pub(crate) fn out_of_range(text: &str, unit: &str, max: u64) -> String {
    format!("`{text}` {unit} is out of range: must be 0 to {max} {unit} (100 years)")
}

/// A column whose values must not go back (arrival or creation times): a row earlier than the
/// last good row is bad. Only good rows move the reference (call [`Self::accept`] once the
/// whole row is valid), and out-of-range values are bad rows before they get here.
pub(crate) struct Ordered<K> {
    last: Option<(K, u64)>,
}

impl<K: PartialOrd + Copy> Ordered<K> {
    pub fn new() -> Self {
        Ordered { last: None }
    }

    /// Checks `v` against the last good row; the message names that row's line.
    pub fn check(&self, v: K) -> Result<(), String> {
        match self.last {
            Some((last, line)) if v < last => {
                Err(format!("earlier than the last good row (line {line})"))
            }
            _ => Ok(()),
        }
    }

    /// Makes `v`, of a good row at `line`, the reference.
    pub fn accept(&mut self, v: K, line: u64) {
        self.last = Some((v, line));
    }
}

/// Reads a CSV trace: checks that the header holds the `required` columns (`optional` ones may
/// be absent), then hands each record to `parse`, which returns a row, `None` to leave it out
/// on purpose (the reader counts those itself), or a bad row. `header: false` means the file
/// has no header and the columns are `required` in order; `delimiter` is `b','` or `b'\t'`.
pub(crate) fn read_csv<T>(
    path: &Path,
    required: &[&'static str],
    optional: &[&'static str],
    header: bool,
    delimiter: u8,
    lenient: bool,
    mut parse: impl FnMut(&Fields) -> Result<Option<T>, BadRow>,
) -> Result<Loaded<T>, TraceError> {
    let file = path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(header)
        .delimiter(delimiter)
        .from_reader(open(path)?);
    let mut cols: Vec<(&'static str, Option<usize>)> = Vec::new();
    if header {
        let h = rdr.headers().map_err(|e| TraceError::Format {
            file: file.clone(),
            line: 1,
            message: e.to_string(),
        })?;
        let found: Vec<&str> = h.iter().map(str::trim).collect();
        for &name in required {
            let Some(i) = found.iter().position(|c| *c == name) else {
                return Err(TraceError::Format {
                    file,
                    line: 1,
                    message: format!(
                        "the header has no column `{name}` (expected {}; found `{}`)",
                        required.join(","),
                        found.join(",")
                    ),
                });
            };
            cols.push((name, Some(i)));
        }
        for &name in optional {
            cols.push((name, found.iter().position(|c| *c == name)));
        }
    } else {
        cols = required
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, Some(i)))
            .collect();
    }
    let width = cols.iter().filter_map(|c| c.1).max().map_or(0, |m| m + 1);
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(TraceError::Format {
                        file,
                        line: e.position().map_or(0, |p| p.line()),
                        message: e.to_string(),
                    });
                }
                bad.push(BadRow {
                    line: e.position().map_or(0, |p| p.line()),
                    field: "(row)".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() < width {
            bad.push(BadRow {
                line,
                field: "(row)".into(),
                message: format!("expected {width} fields, found {}", rec.len()),
            });
            continue;
        }
        match parse(&Fields {
            rec: &rec,
            cols: &cols,
            line,
        }) {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(b) => bad.push(b),
        }
    }
    finish(&file, rows, bad, lenient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_columns_move_only_on_accept() {
        let mut o = Ordered::new();
        assert!(o.check(5).is_ok());
        o.accept(5, 2);
        // A row checked but not accepted (bad in another field) is no reference.
        assert!(o.check(9).is_ok());
        assert!(o.check(7).is_ok());
        let e = o.check(4).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
