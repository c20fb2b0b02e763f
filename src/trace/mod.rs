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
use std::io::{BufRead, BufReader, Read};
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

/// Opens a trace file as [`Text`], decompressing it when its name ends in `.gz`.
pub(crate) fn open(path: &Path) -> Result<Text, TraceError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| TraceError::Io {
        file: file.clone(),
        source,
    })?;
    let f = BufReader::new(f);
    let gz = path.extension().is_some_and(|e| e == "gz");
    let inner: Box<dyn Read> = if gz {
        // Every member: `cat a.gz b.gz > c.gz` is a valid gzip file, and a single-member
        // decoder would stop silently after `a`. Bytes after the last member that are not
        // another member are an error, not ignored.
        Box::new(flate2::bufread::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Text::new(inner, file, gz))
}

/// A trace file's bytes as every reader sees them: decompressed (all members of a
/// multi-member gzip), without a leading UTF-8 byte-order mark, and with every line end (LF,
/// CRLF or a lone CR, as old Mac files have) passed on as one LF, so that all readers count
/// the same lines. Nothing is decoded here: readers check UTF-8 row by row, so a character
/// split between two reads stays whole. A CR inside a quoted CSV field also becomes an LF.
pub(crate) struct Text {
    inner: Box<dyn Read>,
    file: String,
    gz: bool,
    /// The file's first bytes, held back until it is known whether they are a BOM.
    head: [u8; 3],
    head_len: usize,
    head_pos: usize,
    started: bool,
    /// The last byte passed on was a CR (written as LF): an LF right after it is dropped.
    after_cr: bool,
    /// Line ends passed on so far.
    newlines: u64,
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

impl Text {
    fn new(inner: Box<dyn Read>, file: String, gz: bool) -> Self {
        Text {
            inner,
            file,
            gz,
            head: [0; 3],
            head_len: 0,
            head_pos: 0,
            started: false,
            after_cr: false,
            newlines: 0,
        }
    }

    /// The line being read: the one after the last line end passed on.
    pub fn line(&self) -> u64 {
        self.newlines + 1
    }

    /// A failed read (corrupt or truncated gzip data, bytes after its last member, a failing
    /// disk) as an error at the line the reading had reached.
    pub fn error(&self, e: std::io::Error) -> TraceError {
        let what = if self.gz {
            "the gzip data cannot be decompressed from here (corrupt or truncated, or followed by bytes that are not a gzip member)"
        } else {
            "the file cannot be read from here"
        };
        TraceError::Format {
            file: self.file.clone(),
            line: self.line(),
            message: format!("{what}: {e}"),
        }
    }

    /// Reads the first bytes and drops them if they are a UTF-8 BOM.
    fn start(&mut self) -> std::io::Result<()> {
        while self.head_len < BOM.len() {
            match self.inner.read(&mut self.head[self.head_len..]) {
                Ok(0) => break,
                Ok(n) => self.head_len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.head[..self.head_len] == BOM {
            self.head_len = 0;
        }
        self.started = true;
        Ok(())
    }

    /// Rewrites line ends in place (CR and CRLF to LF), counting them; returns the new length.
    fn normalize(&mut self, b: &mut [u8]) -> usize {
        if !self.after_cr && !b.contains(&b'\r') {
            self.newlines += b.iter().filter(|&&c| c == b'\n').count() as u64;
            return b.len();
        }
        let mut w = 0;
        for r in 0..b.len() {
            let c = b[r];
            if c == b'\n' && self.after_cr {
                self.after_cr = false;
                continue;
            }
            self.after_cr = c == b'\r';
            let c = if self.after_cr { b'\n' } else { c };
            self.newlines += u64::from(c == b'\n');
            b[w] = c;
            w += 1;
        }
        w
    }
}

impl Read for Text {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = if self.head_pos < self.head_len {
                let k = (self.head_len - self.head_pos).min(buf.len());
                buf[..k].copy_from_slice(&self.head[self.head_pos..self.head_pos + k]);
                self.head_pos += k;
                k
            } else {
                self.inner.read(buf)?
            };
            if n == 0 {
                return Ok(0);
            }
            // A read of only the LF of a CRLF passes nothing on: read again.
            let n = self.normalize(&mut buf[..n]);
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

/// One CSV record with its columns found by header name, so readers name fields, not indexes.
pub(crate) struct Fields<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a [(&'static str, Option<usize>)],
    pub line: u64,
}

impl Fields<'_> {
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
/// A record with another number of fields than the header (or than `required` without one)
/// is a bad row, and so is one that is not valid UTF-8 (naming its field).
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
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(open(path)?);
    let mut rec = csv::StringRecord::new();
    let mut cols: Vec<(&'static str, Option<usize>)> = Vec::new();
    let width = if header {
        if let Err(e) = rdr.read_record(&mut rec) {
            return Err(csv_error(rdr.get_ref(), &file, e));
        }
        let found: Vec<&str> = rec.iter().map(str::trim).collect();
        for &name in required {
            let Some(i) = found.iter().position(|c| *c == name) else {
                return Err(TraceError::Format {
                    file,
                    line: rec.position().map_or(1, |p| p.line()),
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
        found.len()
    } else {
        cols = required
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, Some(i)))
            .collect();
        required.len()
    };
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let csv::ErrorKind::Utf8 { pos, err } = e.kind() else {
                    return Err(csv_error(rdr.get_ref(), &file, e));
                };
                let i = err.field();
                bad.push(BadRow {
                    line: pos.as_ref().map_or(rdr.get_ref().line(), |p| p.line()),
                    field: cols
                        .iter()
                        .find(|c| c.1 == Some(i))
                        .map_or_else(|| format!("(column {})", i + 1), |c| c.0.to_string()),
                    message: format!(
                        "not valid UTF-8 (from byte {} of the field)",
                        err.valid_up_to() + 1
                    ),
                });
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != width {
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

/// A CSV error that stops the read: a failed read at the line reached, else where the CSV
/// reader says.
fn csv_error(text: &Text, file: &str, e: csv::Error) -> TraceError {
    let line = e.position().map_or(text.line(), |p| p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(e) => text.error(e),
        _ => TraceError::Format {
            file: file.to_string(),
            line,
            message,
        },
    }
}

/// One row of a JSON Lines trace: a JSON object and its line.
pub(crate) struct JsonRow<'a> {
    pub value: &'a serde_json::Value,
    pub line: u64,
}

impl JsonRow<'_> {
    pub fn bad(&self, field: &str, message: impl Into<String>) -> BadRow {
        BadRow {
            line: self.line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A non-negative whole number, or a bad row naming the field.
    pub fn uint(&self, key: &str) -> Result<u64, BadRow> {
        let v = self
            .value
            .get(key)
            .ok_or_else(|| self.bad(key, "missing"))?;
        v.as_u64()
            .ok_or_else(|| self.bad(key, format!("`{v}` is not a non-negative whole number")))
    }
}

/// Reads a JSON Lines trace, handing each row (a JSON object) to `parse`, which returns a row,
/// `None` to leave it out on purpose, or a bad row. Blank lines are skipped; a line that is
/// not valid UTF-8, not JSON or not an object is a bad row at its line.
pub(crate) fn read_jsonl<T>(
    path: &Path,
    lenient: bool,
    mut parse: impl FnMut(&JsonRow) -> Result<Option<T>, BadRow>,
) -> Result<Loaded<T>, TraceError> {
    let file = path.display().to_string();
    let mut text = BufReader::with_capacity(1 << 16, open(path)?);
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        match text.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(text.get_ref().error(e)),
        }
        line += 1;
        if buf.trim_ascii().is_empty() {
            continue;
        }
        let row_error = |message: String| BadRow {
            line,
            field: "(row)".into(),
            message,
        };
        let s = match std::str::from_utf8(&buf) {
            Ok(s) => s,
            Err(e) => {
                bad.push(row_error(format!(
                    "not valid UTF-8 (from byte {} of the line)",
                    e.valid_up_to() + 1
                )));
                continue;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(s) {
            Ok(v) => v,
            Err(e) => {
                bad.push(row_error(json_message(&e)));
                continue;
            }
        };
        if !value.is_object() {
            bad.push(row_error("not a JSON object".into()));
            continue;
        }
        match parse(&JsonRow {
            value: &value,
            line,
        }) {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(b) => bad.push(b),
        }
    }
    finish(&file, rows, bad, lenient)
}

/// A JSON error in one line of a JSON Lines file, by column (serde's "at line 1" would
/// contradict the row's own line).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = s.strip_suffix(&suffix).unwrap_or(&s);
    format!("not JSON (column {}): {what}", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to cut the input everywhere.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn through_text(data: &[u8], step: usize) -> (Vec<u8>, u64) {
        let data = data.to_vec();
        let mut t = Text::new(Box::new(Trickle { data, at: 0, step }), "t".into(), false);
        let mut out = Vec::new();
        t.read_to_end(&mut out).unwrap();
        (out, t.newlines)
    }

    #[test]
    fn line_ends_become_lf_and_a_bom_goes_however_the_reads_fall() {
        let cases: [(&[u8], &[u8], u64); 7] = [
            (b"a\nb\n", b"a\nb\n", 2),
            (b"a\r\nb\r\n", b"a\nb\n", 2),
            (b"a\rb\r", b"a\nb\n", 2),
            (b"a\r\rb\n\nc", b"a\n\nb\n\nc", 4),
            (b"\xEF\xBB\xBFa\rb", b"a\nb", 1),
            // A BOM only at the start; a lone 2-byte prefix of one is data.
            (b"a\xEF\xBB\xBF", b"a\xEF\xBB\xBF", 0),
            (b"\xEF\xBB", b"\xEF\xBB", 0),
        ];
        for (input, want, lines) in cases {
            for step in [1, 2, 3, 5, 64] {
                let (out, n) = through_text(input, step);
                assert_eq!((out.as_slice(), n), (want, lines), "{input:?} by {step}");
            }
        }
    }

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
