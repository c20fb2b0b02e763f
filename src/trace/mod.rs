//! Public workload traces, read as they are: every row is validated, and bad rows are reported
//! with file, line and field rather than silently dropped. Strict by default (a file with bad
//! rows is an error that counts them and shows the first few); lenient mode skips them and
//! returns them for the report.

pub mod azure;
pub mod mooncake;

use std::fmt;

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
