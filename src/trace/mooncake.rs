//! Mooncake FAST'25 traces (`kvcache-ai/Mooncake`, `FAST25-release/traces/*.jsonl`): one JSON
//! object per line with `timestamp` (ms from the trace start), `input_length`,
//! `output_length` and `hash_ids` (prefix blocks of 512 tokens; equal ids are reusable KV
//! cache).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::{BadRow, Loaded, MAX_SECS, Ordered, Request, TraceError, finish, out_of_range};

/// A request and the prefix-cache blocks of its prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub request: Request,
    pub blocks: Vec<u64>,
}

/// Reads a trace file; rows that are not JSON objects with the four fields, hold a negative or
/// non-integer number or a timestamp beyond [`super::MAX_SECS`] (in ms), or are earlier than
/// the last good row are bad rows (see [`super::finish`]).
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Row>, TraceError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| TraceError::Io {
        file: file.clone(),
        source,
    })?;
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    let mut order = Ordered::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line_no = i as u64 + 1;
        let text = line.map_err(|source| TraceError::Io {
            file: file.clone(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        match parse_row(&text) {
            Ok(row) => match order.check(row.request.at) {
                Ok(()) => {
                    order.accept(row.request.at, line_no);
                    rows.push(row);
                }
                Err(m) => bad.push(BadRow {
                    line: line_no,
                    field: "timestamp".into(),
                    message: format!("`{}` ms is {m}", row.request.at / 1_000),
                }),
            },
            Err((field, message)) => bad.push(BadRow {
                line: line_no,
                field,
                message,
            }),
        }
    }
    finish(&file, rows, bad, lenient)
}

/// Largest timestamp, in ms: [`super::MAX_SECS`].
const MAX_MS: u64 = MAX_SECS * 1_000;

fn parse_row(text: &str) -> Result<Row, (String, String)> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| ("(row)".to_string(), format!("not JSON: {e}")))?;
    let int = |k: &str| -> Result<u64, (String, String)> {
        v.get(k)
            .ok_or_else(|| (k.to_string(), "missing".to_string()))?
            .as_u64()
            .ok_or_else(|| {
                (
                    k.to_string(),
                    format!("`{}` is not a non-negative whole number", v[k]),
                )
            })
    };
    let small = |k: &str| -> Result<u32, (String, String)> {
        u32::try_from(int(k)?).map_err(|_| (k.to_string(), "too large".to_string()))
    };
    let ms = int("timestamp")?;
    if ms > MAX_MS {
        return Err((
            "timestamp".to_string(),
            out_of_range(&ms.to_string(), "ms", MAX_MS),
        ));
    }
    let blocks = v
        .get("hash_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| ("hash_ids".to_string(), "missing or not a list".to_string()))?
        .iter()
        .map(|x| {
            x.as_u64()
                .ok_or_else(|| ("hash_ids".to_string(), format!("`{x}` is not a block id")))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(Row {
        request: Request {
            // In range: at most 100 years in µs.
            at: ms * 1_000,
            input_tokens: small("input_length")?,
            output_tokens: small("output_length")?,
        },
        blocks,
    })
}
