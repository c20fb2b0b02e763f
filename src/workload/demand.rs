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

/// Multiplier of a service's demand at `t` from its diurnal shape and demand changes.
fn shape_at(spec: &InferenceSpec, t: Time) -> f64 {
    let shape = spec.diurnal.as_ref().map_or(1.0, |d| diurnal_factor(d, t));
    shape * change_factor(&spec.demand_changes, t) * spec.demand_scale
}

/// Demanded output tokens/s of a configured (not replayed) service at time `t`.
pub fn demand_at(spec: &InferenceSpec, t: Time) -> f64 {
    spec.demand_tokens_per_s * shape_at(spec, t)
}

/// A service's demand over one autoscaling step, in GPU work: generated-token equivalents
/// per second, and how many output and prompt tokens each unit of work stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub work_per_s: f64,
    pub out_per_work: f64,
    pub prompt_per_work: f64,
}

/// Demand over `[a, b)`, shaped by the diurnal factor and demand changes at `mid`. A replayed
/// trace gives the tokens that arrive in the step; a prompt token costs `prompt_token_cost`
/// of a generated token's GPU time.
pub fn step(spec: &InferenceSpec, a: Time, b: Time, mid: Time) -> Step {
    let Some(r) = &spec.replay else {
        return Step {
            work_per_s: demand_at(spec, mid),
            out_per_work: 1.0,
            prompt_per_work: 0.0,
        };
    };
    let (out, prompt) = r.between(a, b);
    let work = out + spec.prompt_token_cost * prompt;
    let dt = crate::units::secs(b.saturating_sub(a));
    if work <= 0.0 || dt <= 0.0 {
        return Step {
            work_per_s: 0.0,
            out_per_work: 1.0,
            prompt_per_work: 0.0,
        };
    }
    Step {
        work_per_s: work / dt * shape_at(spec, mid),
        out_per_work: out / work,
        prompt_per_work: prompt / work,
    }
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
