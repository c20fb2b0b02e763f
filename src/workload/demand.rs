//! Inference demand over time: a mean rate shaped by a diurnal cosine, a weekend factor and
//! step changes (demand shocks). Deterministic: demand is a scenario input, not a random draw.

use super::{DemandChange, Diurnal, InferenceSpec};
use crate::units::{Time, US_PER_HOUR};

const DAY: Time = 24 * US_PER_HOUR;

/// Multiplier of the mean demand at time `t` from the diurnal shape alone.
///
/// The simulation starts on a Monday at 00:00. Weekdays follow
/// `mid + amp * cos(2π (hour - peak_hour) / 24)` with `mid = (peak + trough) / 2` and
/// `amp = (peak - trough) / 2`, so a weekday averages `mid`; Saturday and Sunday are scaled
/// by `weekend`.
pub fn diurnal_factor(d: &Diurnal, t: Time) -> f64 {
    let hour = (t % DAY) as f64 / US_PER_HOUR as f64;
    let mid = (d.peak + d.trough) / 2.0;
    let amp = (d.peak - d.trough) / 2.0;
    let shape = mid + amp * (std::f64::consts::TAU * (hour - d.peak_hour) / 24.0).cos();
    let weekday = (t / DAY) % 7;
    if weekday >= 5 {
        shape * d.weekend
    } else {
        shape
    }
}

/// Multiplier set by the latest step change at or before `t` (1 before any). Changes are
/// sorted by time when the config is validated.
pub fn change_factor(changes: &[DemandChange], t: Time) -> f64 {
    changes
        .iter()
        .take_while(|c| c.at <= t)
        .last()
        .map_or(1.0, |c| c.factor)
}

/// Demanded output tokens/s of a service at time `t`.
pub fn demand_at(spec: &InferenceSpec, t: Time) -> f64 {
    let shape = spec.diurnal.as_ref().map_or(1.0, |d| diurnal_factor(d, t));
    spec.demand_tokens_per_s * shape * change_factor(&spec.demand_changes, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diurnal_peaks_and_troughs_where_configured() {
        let d = Diurnal {
            peak: 1.3,
            trough: 0.7,
            peak_hour: 14.0,
            weekend: 0.8,
        };
        assert!((diurnal_factor(&d, 14 * US_PER_HOUR) - 1.3).abs() < 1e-12);
        assert!((diurnal_factor(&d, 2 * US_PER_HOUR) - 0.7).abs() < 1e-12);
        // Saturday 14:00.
        assert!((diurnal_factor(&d, 5 * DAY + 14 * US_PER_HOUR) - 1.04).abs() < 1e-12);
        // A weekday averages to the midpoint.
        let n = 24 * 60;
        let mean: f64 = (0..n)
            .map(|i| diurnal_factor(&d, i as Time * DAY / n as Time))
            .sum::<f64>()
            / n as f64;
        assert!((mean - 1.0).abs() < 1e-9);
    }

    #[test]
    fn changes_apply_from_their_time() {
        let c = vec![
            DemandChange {
                at: 10,
                factor: 0.6,
            },
            DemandChange {
                at: 20,
                factor: 0.5,
            },
        ];
        assert_eq!(change_factor(&c, 9), 1.0);
        assert_eq!(change_factor(&c, 10), 0.6);
        assert_eq!(change_factor(&c, 25), 0.5);
    }
}
