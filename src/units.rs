//! Units of the model: integer simulated time in microseconds, and parsing of durations,
//! token counts and sizes written with their units in config files.

use std::fmt;

/// Simulated time and durations, in microseconds. Integer so that event order is exact.
pub type Time = u64;

pub const US_PER_SEC: Time = 1_000_000;
/// One millisecond.
pub const MS: Time = 1_000;
pub const US_PER_HOUR: Time = 3_600 * US_PER_SEC;

/// Seconds (as f64) of a duration in microseconds.
pub fn secs(t: Time) -> f64 {
    t as f64 / US_PER_SEC as f64
}

/// Hours (as f64) of a duration in microseconds.
pub fn hours(t: Time) -> f64 {
    t as f64 / US_PER_HOUR as f64
}

/// Microseconds of a duration given in seconds, rounded to the nearest microsecond (0 for a
/// negative or NaN duration, at most `u64::MAX / 2`).
pub fn from_secs_f64(s: f64) -> Time {
    if s.is_nan() || s <= 0.0 {
        0
    } else {
        (s * US_PER_SEC as f64).round().min(u64::MAX as f64 / 2.0) as Time
    }
}

/// The longest duration accepted anywhere (a config field, `--horizon`, a switch cost after
/// a sweep's scaling): 10^12 s, about 31,700 years. Sums of a few durations and the horizon
/// then stay far inside `u64` microseconds.
pub const MAX_DURATION: Time = 1_000_000_000_000 * US_PER_SEC;

/// The units a duration may be written in, for messages.
const UNITS: &str = "units: us, ms, s, m, h, d, w";

/// Seconds per unit of a duration unit.
fn unit_secs(unit: &str) -> Option<f64> {
    Some(match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    })
}

/// The accepted unit a spelled-out one means (`days` -> `d`), for hints.
fn short_unit(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "us" | "usec" | "usecs" | "micros" | "microsecond" | "microseconds" => "us",
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => "d",
        "w" | "wk" | "wks" | "week" | "weeks" => "w",
        _ => return None,
    })
}

/// Parses a duration such as `"30s"`, `"18m"`, `"1h30m"`, `"7d"`, `"250ms"`, `"1.5h"`.
///
/// Units: `us`, `ms`, `s`, `m` (minutes), `h`, `d`, `w`, written right after their number;
/// parts may be separated by spaces (`"1h 30m"`). A bare number is rejected so that no value
/// is read in the wrong unit; at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Time, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"18m\", \"7d\"".into());
    }
    if s.starts_with('-') {
        return Err(format!(
            "`{text}`: a duration cannot be negative; write e.g. \"30s\", \"18m\", \"7d\""
        ));
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number before `{rest}`"
            ));
        }
        let num_text = &rest[..num_len];
        let num: f64 = num_text
            .replace('_', "")
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: bad number `{num_text}`"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            let after = rest.trim_start();
            let word_len = after
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(after.len());
            let word = &after[..word_len];
            if !word.is_empty() {
                let hint = match short_unit(word) {
                    Some(u) => format!("\"{num_text}{u}\""),
                    None => format!("\"{num_text}h\" or \"{num_text}d\""),
                };
                return Err(format!(
                    "`{text}`: the unit must follow the number without a space, and be one of \
                     the short ones: write {hint} ({UNITS})"
                ));
            }
            let what = if num_len == s.len() {
                format!("`{text}` has no unit")
            } else {
                format!("`{text}`: the number `{num_text}` has no unit")
            };
            return Err(format!(
                "{what}; write e.g. \"{num_text}s\" or \"{num_text}m\" ({UNITS})"
            ));
        }
        rest = rest[unit_len..].trim_start();
        let Some(scale) = unit_secs(unit) else {
            return Err(match short_unit(unit) {
                Some(u) => format!(
                    "`{text}`: unknown time unit `{unit}`; write \"{num_text}{u}\" ({UNITS})"
                ),
                None => format!("`{text}`: unknown time unit `{unit}` ({UNITS})"),
            });
        };
        total += num * scale;
    }
    if !total.is_finite() || total > secs(MAX_DURATION) {
        return Err(format!(
            "`{text}` is too long: durations are at most 1e12 s (about 31,700 years)"
        ));
    }
    Ok(from_secs_f64(total))
}

/// What is wrong with a horizon written as a bare number (`12`, `0`, `-5`).
pub fn horizon_number_hint(num: &str) -> String {
    let num = num.trim();
    if num.starts_with('-') {
        format!("`{num}`: the horizon cannot be negative; write e.g. \"7d\", \"36h\", \"90m\"")
    } else if num.parse::<f64>().is_ok_and(|v| v == 0.0) {
        format!(
            "`{num}`: the horizon must be longer than 0, with a unit: e.g. \"7d\", \"36h\", \"90m\" ({UNITS})"
        )
    } else {
        format!("`{num}` has no unit; write e.g. \"{num}h\" or \"{num}d\" ({UNITS})")
    }
}

/// Parses a simulation horizon: a duration ([`parse_duration`]) longer than 0, with hints
/// for the usual mistakes (a bare number, zero).
pub fn parse_horizon(text: &str) -> Result<Time, String> {
    let s = text.trim();
    let bare = s.strip_prefix('-').unwrap_or(s);
    if !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
    {
        return Err(horizon_number_hint(s));
    }
    let t = parse_duration(text)?;
    if t == 0 {
        return Err(format!(
            "`{text}`: the horizon must be longer than 0; write e.g. \"7d\", \"36h\", \"90m\""
        ));
    }
    Ok(t)
}

/// Parses a token count such as `2_000_000`, `"50B"`, `"1.5T"`, `"300M"`, `"20k"`.
pub fn parse_tokens(text: &str) -> Result<f64, String> {
    let s = text.trim().replace('_', "");
    let (num, scale) = match s.chars().last() {
        Some('k') | Some('K') => (&s[..s.len() - 1], 1e3),
        Some('M') => (&s[..s.len() - 1], 1e6),
        Some('B') | Some('G') => (&s[..s.len() - 1], 1e9),
        Some('T') => (&s[..s.len() - 1], 1e12),
        _ => (s.as_str(), 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        format!("`{text}` is not a token count; write e.g. 5000000, \"300M\", \"50B\", \"2T\"")
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{text}` must be a non-negative token count"));
    }
    Ok(v * scale)
}

/// A duration that prints in the largest whole unit it fills (used for configs written back).
pub struct HumanDuration(pub Time);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        for (unit, us) in [
            ("d", 86_400 * US_PER_SEC),
            ("h", US_PER_HOUR),
            ("m", 60 * US_PER_SEC),
            ("s", US_PER_SEC),
            ("ms", 1_000),
        ] {
            if t >= us && t.is_multiple_of(us) {
                return write!(f, "{}{unit}", t / us);
            }
        }
        write!(f, "{t}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(30 * US_PER_SEC));
        assert_eq!(parse_duration("18m"), Ok(18 * 60 * US_PER_SEC));
        assert_eq!(parse_duration("1h30m"), Ok(5_400 * US_PER_SEC));
        assert_eq!(parse_duration("1.5h"), Ok(5_400 * US_PER_SEC));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400 * US_PER_SEC));
        assert_eq!(parse_duration("250ms"), Ok(250_000));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn duration_errors_say_what_is_wrong_and_what_is_accepted() {
        let e = parse_duration("2 days").unwrap_err();
        assert!(e.contains("without a space") && e.contains("\"2d\""), "{e}");
        let e = parse_duration("90 minutes").unwrap_err();
        assert!(e.contains("\"90m\""), "{e}");
        let e = parse_duration("2days").unwrap_err();
        assert!(
            e.contains("unknown time unit `days`") && e.contains("\"2d\""),
            "{e}"
        );
        let e = parse_duration("3 parsecs").unwrap_err();
        assert!(e.contains("units: us, ms, s, m, h, d, w"), "{e}");
        let e = parse_duration("-1h").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = parse_duration("1h30").unwrap_err();
        assert!(e.contains("`30` has no unit"), "{e}");
        let e = parse_duration("2000000000000s").unwrap_err();
        assert!(e.contains("at most 1e12 s"), "{e}");
        // Parts may still be separated by spaces.
        assert_eq!(parse_duration("1h 30m"), Ok(5_400 * US_PER_SEC));
        assert_eq!(parse_duration("1000000000000s"), Ok(MAX_DURATION));
    }

    #[test]
    fn horizons_are_positive_durations_with_hints() {
        assert_eq!(parse_horizon("36h"), Ok(36 * US_PER_HOUR));
        for zero in ["0", "0s", "0.0", "0h0m"] {
            let e = parse_horizon(zero).unwrap_err();
            assert!(
                e.contains("longer than 0") && e.contains("\"7d\""),
                "{zero}: {e}"
            );
        }
        let e = parse_horizon("12").unwrap_err();
        assert!(e.contains("no unit") && e.contains("\"12h\""), "{e}");
        assert!(!e.contains("\"12s\""), "{e}");
        let e = parse_horizon("-5").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = parse_horizon("2 days").unwrap_err();
        assert!(e.contains("\"2d\""), "{e}");
    }

    #[test]
    fn tokens_parse_with_suffixes() {
        assert_eq!(parse_tokens("50B"), Ok(50e9));
        assert_eq!(parse_tokens("1.5T"), Ok(1.5e12));
        assert_eq!(parse_tokens("300M"), Ok(300e6));
        assert_eq!(parse_tokens("2_000"), Ok(2000.0));
        assert!(parse_tokens("lots").is_err());
        assert!(parse_tokens("-5").is_err());
    }

    #[test]
    fn human_duration_round_trips() {
        for s in ["7d", "18m", "30s", "250ms", "5h"] {
            let t = parse_duration(s).unwrap();
            assert_eq!(HumanDuration(t).to_string(), s);
        }
    }
}
