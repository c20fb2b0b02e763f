//! Config sections about how an inference service is run: its latency SLO (the MLPerf
//! latency classes as presets, each a delay bound and the per-GPU throughput measured at it),
//! how long its demand may wait before it is dropped, and its autoscaler.

use super::locate::KeyPath;
use super::raw::{RawAutoscaler, RawInference};
use super::{ConfigError, Ctx};
use crate::fleet::GpuType;
use crate::units::{MS, Time, US_PER_HOUR, US_PER_SEC};
use crate::workload::{Autoscaler, ScaleMode, Slo};

use super::limits as L;

/// A latency class of MLPerf Inference (v5.0/v5.1, Llama-2-70B): the queueing delay a token
/// may wait and still count as on time, and the per-GPU throughput measured at that bound.
#[derive(Clone, Copy, Debug)]
pub struct SloClass {
    pub name: &'static str,
    pub slo_delay: Time,
    /// Output tokens/s per GPU of a 70B dense model, by GPU type name.
    pub rates: &'static [(&'static str, f64)],
}

/// The presets. `interactive` and `server` take the class's time-to-first-token bound as the
/// delay a token may queue (450 ms and 2 s [M, MLPerf rules]): work that waits longer cannot
/// meet it. `offline` has no latency bound in MLPerf; 24 h is the completion window batch
/// APIs offer [3P]. Throughputs: `parameters.md`, "Throughput per GPU" [M; H100 interactive
/// 2,300 D].
pub const SLO_CLASSES: [SloClass; 3] = [
    SloClass {
        name: "interactive",
        slo_delay: 450 * MS,
        rates: &[("H100", 2_300.0), ("H200", 2_430.0), ("GB200", 7_400.0)],
    },
    SloClass {
        name: "server",
        slo_delay: 2 * US_PER_SEC,
        rates: &[("H100", 3_900.0), ("H200", 4_100.0), ("GB200", 12_300.0)],
    },
    SloClass {
        name: "offline",
        slo_delay: 24 * US_PER_HOUR,
        rates: &[("H100", 3_900.0), ("H200", 4_400.0), ("GB200", 12_900.0)],
    },
];

/// Delay bound when a service names no SLO: the `server` class's.
pub const DEFAULT_SLO_DELAY: Time = 2 * US_PER_SEC;

/// Autoscaler defaults: a 1-minute trailing window (Knative's stable window is 60 s [V]), no
/// scale-up stabilization and 5 minutes of scale-down stabilization (the Kubernetes HPA's
/// defaults [V]).
pub const DEFAULT_WINDOW: Time = 60 * US_PER_SEC;
pub const DEFAULT_SCALE_UP_DELAY: Time = 0;
pub const DEFAULT_SCALE_DOWN_DELAY: Time = 5 * 60 * US_PER_SEC;

/// Output tokens/s per GPU by type, where the workload runs.
type Rates = Vec<Option<f64>>;

impl Ctx<'_> {
    /// The service's SLO, and the per-GPU throughputs its class implies if the config gives
    /// none (`None` when it gives them, or names no class).
    pub(super) fn slo(
        &self,
        r: &RawInference,
        wp: &KeyPath,
        types: &[GpuType],
    ) -> Result<(Slo, Option<Rates>), ConfigError> {
        let class = match r.slo.as_deref() {
            None => None,
            Some(name) => Some(SLO_CLASSES.iter().find(|c| c.name == name).ok_or_else(|| {
                self.err(
                    wp.clone().key("slo"),
                    format!(
                        "unknown SLO class `{name}` (use {})",
                        SLO_CLASSES.map(|c| format!("\"{}\"", c.name)).join(", ")
                    ),
                )
            })?),
        };
        let delay = match (r.slo_delay, class) {
            (Some(d), _) => {
                self.check(
                    d.0 > 0 && d.0 <= L::MAX_HORIZON,
                    wp.clone().key("slo_delay"),
                    "must be longer than 0 and at most 100 years",
                )?;
                d.0
            }
            (None, Some(c)) => c.slo_delay,
            (None, None) => DEFAULT_SLO_DELAY,
        };
        let rates = match (class, r.tokens_per_s_per_gpu.is_empty()) {
            (Some(c), true) => {
                let v: Rates = (types.iter())
                    .map(|t| c.rates.iter().find(|(n, _)| *n == t.name).map(|r| r.1))
                    .collect();
                self.check(
                    v.iter().any(Option::is_some),
                    wp.clone().key("tokens_per_s_per_gpu"),
                    format!(
                        "the `{}` class has rates for {} only; give tokens_per_s_per_gpu for \
                         this fleet's GPU types",
                        c.name,
                        c.rates.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
                    ),
                )?;
                Some(v)
            }
            _ => None,
        };
        if let Some(a) = r.abandon_after {
            self.check(
                a.0 > 0 && a.0 <= L::MAX_HORIZON,
                wp.clone().key("abandon_after"),
                "must be longer than 0 and at most 100 years",
            )?;
        }
        Ok((
            Slo {
                class: class.map(|c| c.name),
                delay,
                abandon_after: r.abandon_after.map(|d| d.0),
            },
            rates,
        ))
    }

    /// The service's autoscaler, from `[inference.autoscaler]`.
    pub(super) fn autoscaler(
        &self,
        raw: Option<&RawAutoscaler>,
        wp: &KeyPath,
        min_replicas: u32,
    ) -> Result<Autoscaler, ConfigError> {
        let ap = wp.clone().key("autoscaler");
        let Some(r) = raw else {
            return Ok(Autoscaler {
                mode: ScaleMode::Reactive,
                window: DEFAULT_WINDOW,
                scale_up_delay: DEFAULT_SCALE_UP_DELAY,
                scale_down_delay: DEFAULT_SCALE_DOWN_DELAY,
                max_replicas: None,
            });
        };
        let mode = match r.mode.as_deref() {
            None | Some("reactive") => ScaleMode::Reactive,
            Some("oracle") => ScaleMode::Oracle,
            Some(other) => {
                return Err(self.err(
                    ap.key("mode"),
                    format!("unknown autoscaler mode `{other}` (use \"reactive\" or \"oracle\")"),
                ));
            }
        };
        let window = r.window.map_or(DEFAULT_WINDOW, |d| d.0);
        self.check(
            window > 0 && window <= L::MAX_AUTOSCALE_WINDOW,
            ap.clone().key("window"),
            "must be longer than 0 and at most 7 days",
        )?;
        let delay = |d: Option<super::values::Dur>, default: Time, key: &str| {
            let v = d.map_or(default, |d| d.0);
            self.check(
                v <= L::MAX_AUTOSCALE_WINDOW,
                ap.clone().key(key),
                "must be at most 7 days",
            )?;
            Ok::<_, ConfigError>(v)
        };
        let scale_up_delay = delay(r.scale_up_delay, DEFAULT_SCALE_UP_DELAY, "scale_up_delay")?;
        let scale_down_delay = delay(
            r.scale_down_delay,
            DEFAULT_SCALE_DOWN_DELAY,
            "scale_down_delay",
        )?;
        if let Some(m) = r.max_replicas {
            self.count(m, 1, L::MAX_MIN_REPLICAS, ap.clone().key("max_replicas"))?;
            self.check(
                m >= min_replicas,
                ap.clone().key("max_replicas"),
                format!("must be at least min_replicas ({min_replicas})"),
            )?;
        }
        Ok(Autoscaler {
            mode,
            window,
            scale_up_delay,
            scale_down_delay,
            max_replicas: r.max_replicas,
        })
    }
}
