//! Units of the model: integer simulated time in microseconds, and parsing of durations,
//! token counts and sizes written with their units in config files.

use std::fmt;

/// Simulated time and durations, in microseconds. Integer so that event order is exact.
pub type Time = u64;

pub const US_PER_SEC: Time = 1_000_000;
pub const US_PER_HOUR: Time = 3_600 * US_PER_SEC;

/// Seconds (as f64) of a duration in microseconds.
pub fn secs(t: Time) -> f64 {
    t as f64 / US_PER_SEC as f64
}

/// Hours (as f64) of a duration in microseconds.
pub fn hours(t: Time) -> f64 {
    t as f64 / US_PER_HOUR as f64
}

/// Microseconds of a duration given in seconds, rounded to the nearest microsecond.
pub fn from_secs_f64(s: f64) -> Time {
    if s <= 0.0 {
        0
    } else {
        (s * US_PER_SEC as f64).round().min(u64::MAX as f64 / 2.0) as Time
    }
}

/// Parses a duration such as `"30s"`, `"18m"`, `"1h30m"`, `"7d"`, `"250ms"`, `"1.5h"`.
///
/// Units: `us`, `ms`, `s`, `m` (minutes), `h`, `d`, `w`. A bare number is rejected so that
/// no value is read in the wrong unit.
pub fn parse_duration(text: &str) -> Result<Time, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"18m\", \"7d\"".into());
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
        let num: f64 = rest[..num_len].replace('_', "").parse().map_err(|_| {
            format!(
                "`{text}` is not a duration: bad number `{}`",
                &rest[..num_len]
            )
        })?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let scale = match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3_600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "" => {
                return Err(format!(
                    "`{text}` has no unit; write e.g. \"{num}s\" or \"{num}m\" (units: us, ms, s, m, h, d, w)"
                ));
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown time unit `{other}` (units: us, ms, s, m, h, d, w)"
                ));
            }
        };
        total += num * scale;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(from_secs_f64(total))
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
            if t >= us && t % us == 0 {
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
