//! The report per inference service: its demand and what became of it (served on time, served
//! late, dropped, still queued at the horizon), its queueing delays, its replicas and GPUs,
//! and the fleet's worst service beside the token-weighted figure.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::sim::Engine;
use crate::units::{US_PER_HOUR, secs};
use crate::workload::Spec;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Delay {
    pub mean: f64,
    /// From a histogram with bins 12 % wide: within about 6 % of the exact figure.
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Replicas {
    /// Time-average of replicas placed (serving or loading).
    pub mean: f64,
    pub max: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServiceFigures {
    pub tenant: String,
    /// Latency class the SLO comes from (`null` if `slo_delay` was given outright).
    pub slo_class: Option<String>,
    /// Queueing delay a token may wait and count as on time, s.
    pub slo_delay_s: f64,
    /// `reactive`, or `oracle` (scaled from the coming demand, known in advance).
    pub autoscaler: String,
    /// Output tokens.
    pub demanded_tokens: f64,
    pub served_tokens: f64,
    pub served_within_slo_tokens: f64,
    pub dropped_tokens: f64,
    /// Still waiting at the horizon (demanded = served + dropped + queued).
    pub queued_tokens: f64,
    /// Served within the SLO delay over demanded; `null` with no demand.
    pub slo_attainment: Option<f64>,
    /// Queueing delays of the tokens served, s.
    pub delay_s: Delay,
    pub replicas: Replicas,
    /// Replicas placed, each loading the model before serving.
    pub cold_starts: u64,
    /// GPU-hours its replicas held, loading and serving.
    pub gpu_hours: f64,
}

/// Every service of a finished run, by name.
pub fn by_service(e: &Engine) -> BTreeMap<String, ServiceFigures> {
    let sc = e.scenario();
    let span = e.now().max(1) as f64;
    (e.services.iter())
        .map(|s| {
            let w = &sc.workloads[s.workload];
            let Spec::Inference(spec) = &w.spec else {
                unreachable!("a service is an inference workload");
            };
            let d = &s.delays;
            let figures = ServiceFigures {
                tenant: sc.tenants[w.tenant].name.clone(),
                slo_class: spec.slo.class.map(str::to_string),
                slo_delay_s: secs(spec.slo.delay),
                autoscaler: spec.autoscaler.mode.name().to_string(),
                demanded_tokens: s.demanded,
                served_tokens: s.served,
                served_within_slo_tokens: d.within,
                dropped_tokens: s.dropped,
                queued_tokens: s.queue.queued_tokens().0,
                slo_attainment: (s.demanded > 0.0).then(|| (d.within / s.demanded).min(1.0)),
                delay_s: Delay {
                    mean: d.mean_s(),
                    p50: d.quantile_s(0.5),
                    p99: d.quantile_s(0.99),
                    max: d.max_s,
                },
                replicas: Replicas {
                    mean: s.replica_us as f64 / span,
                    max: s.max_replicas_seen,
                },
                cold_starts: s.cold_starts,
                gpu_hours: s.gpu_us as f64 / US_PER_HOUR as f64,
            };
            (w.name.clone(), figures)
        })
        .collect()
}

/// The service with the lowest SLO attainment among those with demand: (name, attainment).
pub fn worst(services: &BTreeMap<String, ServiceFigures>) -> Option<(String, f64)> {
    (services.iter())
        .filter_map(|(n, f)| f.slo_attainment.map(|a| (n, a)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, a)| (n.clone(), a))
}
