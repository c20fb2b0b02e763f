//! Azure LLM inference trace 2023 (Splitwise, ISCA'24; `Azure/AzurePublicDataset`, files
//! `AzureLLMInferenceTrace_{code,conv}.csv`): one request per row,
//! `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like `2023-11-16 18:17:03.9799600`.

use std::path::Path;

pub use super::Request;
use super::{Loaded, Ordered, TraceError, read_csv};
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

/// Years a timestamp may fall in. The traces are from 2023 and 2024; a date outside these
/// years is a corrupt row, and the bound keeps every conversion to µs in range.
pub const YEARS: std::ops::RangeInclusive<i64> = 1970..=2099;

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction]` (a date in [`YEARS`]) into µs since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a timestamp like 2023-11-16 18:17:03.9799600");
    let (date, time) = s.trim().split_once(' ').ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || t.len() != 3 || frac.len() > 9 {
        return Err(bad());
    }
    // Digits only (no sign), at most 6 of them, so that no part can overflow.
    let num = |x: &str| {
        if x.is_empty() || x.len() > 6 || !x.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        x.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, da) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (h, mi, se) = (num(t[0])?, num(t[1])?, num(t[2])?);
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&mo) || !(1..=month_days).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    if !YEARS.contains(&y) {
        return Err(format!(
            "`{s}` is out of range: timestamps must be in the years {} to {}",
            YEARS.start(),
            YEARS.end()
        ));
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
    // In range: the year is bounded, so this is below 2^53.
    Ok(((days_from_civil(y, mo, da) * 86_400 + h * 3_600 + mi * 60 + se) * 1_000_000) + us)
}

/// Reads a trace file. Rows with a missing or extra field, a non-numeric token count, an
/// unparsable or out-of-range timestamp, or one earlier than the last good row's are bad rows
/// (see `trace::finish`: strict or lenient). Times are µs after the first good row.
pub fn read(path: &Path, lenient: bool) -> Result<Loaded<Request>, TraceError> {
    let mut first: Option<i64> = None;
    let mut order = Ordered::new();
    read_csv(path, &HEADER, &[], true, b',', lenient, |f| {
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
        order.check(ts).map_err(|m| {
            f.bad(
                HEADER[0],
                format!("timestamp `{}` is {m}", f.text(HEADER[0])),
            )
        })?;
        order.accept(ts, f.line);
        let t0 = *first.get_or_insert(ts);
        Ok(Some(Request {
            // Not negative: `ts` is at least the last good row's, which is at least `t0`.
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
        assert!(parse_timestamp("2023-02-29 00:00:00").is_err());
        assert!(parse_timestamp("2024-02-29 00:00:00").is_ok());
        assert!(parse_timestamp("2023-11-16 18:-5:03").is_err());
        // Out of range, not an overflow: year 300000 once panicked in the multiplication.
        let e = parse_timestamp("300000-11-16 18:15:46.68").unwrap_err();
        assert!(
            e.contains("out of range") && e.contains("1970 to 2099"),
            "{e}"
        );
        assert!(parse_timestamp("1969-12-31 23:59:59").is_err());
        assert!(parse_timestamp("2099-12-31 23:59:59.9999999").is_ok());
    }
}
