//! Mooncake FAST'25 traces (`kvcache-ai/Mooncake`, `FAST25-release/traces/*.jsonl`): one JSON
//! object per line with `timestamp` (ms from the trace start), `input_length`,
//! `output_length` and `hash_ids` (prefix blocks of 512 tokens; equal ids are reusable KV
//! cache).

use std::path::Path;

use serde_json::Value;

use super::{
    BadRow, JsonRow, Loaded, MAX_SECS, Ordered, Request, TraceError, out_of_range, read_jsonl,
};

/// A request and the prefix-cache blocks of its prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub request: Request,
    pub blocks: Vec<u64>,
}

/// Reads a trace file (plain or `.gz`); rows that are not JSON objects with the four fields,
/// hold a negative or non-integer number, a timestamp beyond [`super::MAX_SECS`] (in ms), or
/// one earlier than the last good row's are bad rows (see `trace::finish`: strict or lenient).
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Row>, TraceError> {
    let mut order = Ordered::new();
    read_jsonl(path, lenient, |r| {
        let row = parse_row(r)?;
        order
            .check(row.request.at)
            .map_err(|m| r.bad("timestamp", format!("`{}` is {m}", r.value["timestamp"])))?;
        order.accept(row.request.at, r.line);
        Ok(Some(row))
    })
}

/// Largest timestamp, in ms: [`super::MAX_SECS`].
const MAX_MS: u64 = MAX_SECS * 1_000;

fn parse_row(r: &JsonRow) -> Result<Row, BadRow> {
    let ms = r.uint("timestamp")?;
    if ms > MAX_MS {
        return Err(r.bad("timestamp", out_of_range(&ms.to_string(), "ms", MAX_MS)));
    }
    let small = |k: &str| -> Result<u32, BadRow> {
        let v = r.uint(k)?;
        u32::try_from(v).map_err(|_| r.bad(k, format!("`{v}` is too large (at most {})", u32::MAX)))
    };
    let input_tokens = small("input_length")?;
    let output_tokens = small("output_length")?;
    let blocks = r
        .value
        .get("hash_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| r.bad("hash_ids", "missing or not a list"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .ok_or_else(|| r.bad("hash_ids", format!("`{x}` is not a block id")))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(Row {
        request: Request {
            // In range: at most 100 years in µs.
            at: ms * 1_000,
            input_tokens,
            output_tokens,
        },
        blocks,
    })
}
