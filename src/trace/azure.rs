//! Azure LLM inference trace 2023 (Splitwise, ISCA'24; `Azure/AzurePublicDataset`, files
//! `AzureLLMInferenceTrace_{code,conv}.csv`): one request per row,
//! `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like `2023-11-16 18:17:03.9799600`.

use std::path::Path;

pub use super::Request;
use super::{Loaded, TraceError, read_csv};
use crate::units::Time;

const HEADER: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];

/// Days from 1970-01-01 to a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction]` into µs since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a timestamp like 2023-11-16 18:17:03.9799600");
    let (date, time) = s.trim().split_once(' ').ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || t.len() != 3 || frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let (y, mo, da) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (h, mi, se) = (num(t[0])?, num(t[1])?, num(t[2])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    // Fraction to microseconds (rounded to the nearest).
    let mut digits = frac.to_string();
    while digits.len() < 9 {
        digits.push('0');
    }
    let ns: i64 = if frac.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad())?
    };
    let us = (ns + 500) / 1_000;
    Ok(((days_from_civil(y, mo, da) * 86_400 + h * 3_600 + mi * 60 + se) * 1_000_000) + us)
}

/// Reads a trace file. Rows with a missing or extra field, a non-numeric token count or an
/// unparsable or earlier-than-previous timestamp are bad rows (see [`super::finish`]).
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Request>, TraceError> {
    let mut first: Option<i64> = None;
    let mut last = i64::MIN;
    read_csv(path, &HEADER, &[], true, b',', lenient, |f| {
        if f.len() != HEADER.len() {
            return Err(f.bad("(row)", format!("expected 3 fields, found {}", f.len())));
        }
        let ts = parse_timestamp(f.text(HEADER[0])).map_err(|m| f.bad(HEADER[0], m))?;
        let tokens = |i: usize| {
            let s = f.text(HEADER[i]);
            s.parse::<u32>().map_err(|_| {
                f.bad(
                    HEADER[i],
                    format!("`{s}` is not a non-negative whole number"),
                )
            })
        };
        let (input, output) = (tokens(1)?, tokens(2)?);
        if ts < last {
            return Err(f.bad(
                HEADER[0],
                format!(
                    "timestamp `{}` is earlier than the row before",
                    f.text(HEADER[0])
                ),
            ));
        }
        last = ts;
        let t0 = *first.get_or_insert(ts);
        Ok(Some(Request {
            at: (ts - t0) as Time,
            input_tokens: input,
            output_tokens: output,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_microseconds() {
        let a = parse_timestamp("2023-11-16 18:17:03.9799600").unwrap();
        let b = parse_timestamp("2023-11-16 18:17:04.0319600").unwrap();
        assert_eq!(b - a, 52_000);
        assert_eq!(
            parse_timestamp("1970-01-02 00:00:00").unwrap(),
            86_400_000_000
        );
        assert!(parse_timestamp("2023-13-16 18:17:03").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }
}
