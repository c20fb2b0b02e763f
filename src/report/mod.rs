//! The run report: built from the engine's ledger after the horizon, written as JSON with
//! stable field names, and rendered as tables for the terminal.

mod finite;
mod render;

pub use crate::metrics::percentile;
pub use finite::first_non_finite;
pub use render::{num, render};

use serde::Serialize;
use std::collections::BTreeMap;

use crate::fleet::cluster::GpuState;
use crate::metrics::{Account, Samples};
use crate::sim::Engine;
use crate::units::US_PER_HOUR;
use crate::workload::{Billing, Kind};

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct GpuHours {
    pub total: f64,
    pub productive: f64,
    pub tenant_switch: f64,
    pub workflow_switch: f64,
    pub idle: f64,
    pub down: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TypeFigures {
    pub gpus: u64,
    pub gpu_hours: GpuHours,
    pub gpu_utilization: f64,
    pub tokens: f64,
    pub tokens_per_gpu_hour: f64,
    pub revenue_usd: f64,
    pub cost_usd: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindFigures {
    /// Productive GPU-hours.
    pub gpu_hours: f64,
    pub switch_gpu_hours: f64,
    pub tokens: f64,
    /// Jobs of this kind (training, batch): hours from arrival to first start, censored at
    /// the horizon for jobs that never started (see [`Jobs::wait_hours`]).
    pub wait_hours: Percentiles,
    /// Jobs of this kind: hours from arrival to completion, censored at the horizon for jobs
    /// not done.
    pub completion_hours: Percentiles,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TenantFigures {
    pub reserved_gpus: u64,
    /// Productive GPU-hours.
    pub gpu_hours: f64,
    pub tenant_switch_gpu_hours: f64,
    pub workflow_switch_gpu_hours: f64,
    pub tokens: f64,
    /// Served / demanded inference tokens; `null` for a tenant with no inference service.
    pub slo_attainment: Option<f64>,
    pub revenue_usd: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Switches {
    /// Node re-provisionings for a new tenant.
    pub tenant: u64,
    /// Allocations that loaded a model or restarted a job before producing.
    pub workflow: u64,
}

pub use crate::metrics::Percentiles;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Jobs {
    pub submitted: u64,
    pub completed: u64,
    pub running: u64,
    pub queued: u64,
    pub rejected: u64,
    pub preemptions: u64,
    pub interrupted_by_failures: u64,
    /// Jobs still waiting for their first start at the horizon, by kind (`training`,
    /// `batch`): the censored values of the wait figures.
    pub never_started: BTreeMap<String, u64>,
    /// Hours from arrival to first start, every job: one that never started counts with its
    /// wait up to the horizon (`censored`), so the figures are then lower bounds.
    pub wait_hours: Percentiles,
    /// Hours from arrival to completion, every job: one not done by the horizon counts with
    /// its time up to then (`censored`).
    pub completion_hours: Percentiles,
    /// Time-average number of jobs waiting in the queue.
    pub mean_queued: f64,
    /// Time-average number of jobs holding GPUs.
    pub mean_running: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Inference {
    /// Generated (output) tokens.
    pub demanded_tokens: f64,
    pub served_tokens: f64,
    /// Prompt tokens of replayed traces (each costs `prompt_token_cost` of an output token).
    pub demanded_prompt_tokens: f64,
    pub served_prompt_tokens: f64,
    pub slo_attainment: f64,
    pub replicas_started: u64,
    pub replicas_stopped: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Economics {
    pub revenue_usd: f64,
    pub cost_usd: f64,
    pub gross_margin: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EngineStats {
    pub events: u64,
    pub failures: u64,
    pub tokens_lost: f64,
    pub peak_queue: u64,
    pub peak_pending_events: u64,
    /// Batch jobs still held as a count at the horizon (queued, never materialized).
    pub held_jobs: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub horizon_hours: f64,
    /// Factor applied to all switch costs (1 unless a sweep changed them).
    pub switch_cost_scale: f64,
    pub gpus: u64,
    pub gpu_hours: GpuHours,
    pub gpu_utilization: f64,
    pub tokens: f64,
    pub tokens_per_gpu_hour: f64,
    pub by_gpu_type: BTreeMap<String, TypeFigures>,
    pub by_kind: BTreeMap<String, KindFigures>,
    pub by_tenant: BTreeMap<String, TenantFigures>,
    pub switches: Switches,
    pub jobs: Jobs,
    pub inference: Inference,
    pub economics: Economics,
    /// Traces read, with rows used, skipped (bad, under `--lenient`) and left out.
    pub traces: Vec<crate::config::TraceUse>,
    #[serde(rename = "engine")]
    pub engine_stats: EngineStats,
}

fn h(us: u128) -> f64 {
    us as f64 / US_PER_HOUR as f64
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Revenue of one account at a tenant's billing.
fn revenue(billing: &Billing, price_per_gpu_hour: f64, a: &Account) -> f64 {
    match billing {
        Billing::GpuHour { multiplier } => multiplier * price_per_gpu_hour * h(a.productive_us),
        Billing::Tokens { usd_per_million } => usd_per_million * a.tokens / 1e6,
    }
}

/// Builds the report of a finished run.
pub fn build(e: &Engine) -> Report {
    let sc = e.scenario();
    let l = &e.ledger;
    let horizon_h = e.horizon_hours();
    let hours_of = |t: usize| -> GpuHours {
        let s = &l.state_us[t];
        let g = |x: GpuState| h(s[x as usize]);
        GpuHours {
            total: h(s.iter().sum()),
            productive: g(GpuState::Busy),
            tenant_switch: g(GpuState::TenantSwitch),
            workflow_switch: g(GpuState::WorkflowSwitch),
            idle: g(GpuState::Idle),
            down: g(GpuState::Down),
        }
    };

    let mut by_gpu_type = BTreeMap::new();
    let mut total = GpuHours::default();
    let mut tokens = 0.0;
    let mut revenue_total = 0.0;
    let mut cost_total = 0.0;
    for (t, ty) in sc.gpu_types.iter().enumerate() {
        let gh = hours_of(t);
        let tok: f64 = l.accounts.iter().map(|row| row[t].tokens).sum();
        let rev: f64 = sc
            .tenants
            .iter()
            .enumerate()
            .map(|(i, ten)| revenue(&ten.billing, ty.price_usd_per_gpu_hour, &l.accounts[i][t]))
            .sum();
        let cost = ty.cost_usd_per_gpu_hour * gh.total;
        total.total += gh.total;
        total.productive += gh.productive;
        total.tenant_switch += gh.tenant_switch;
        total.workflow_switch += gh.workflow_switch;
        total.idle += gh.idle;
        total.down += gh.down;
        tokens += tok;
        revenue_total += rev;
        cost_total += cost;
        by_gpu_type.insert(
            ty.name.clone(),
            TypeFigures {
                gpus: e.cluster.type_gpus[t] as u64,
                gpu_utilization: ratio(gh.productive, gh.total),
                tokens_per_gpu_hour: ratio(tok, gh.total),
                gpu_hours: gh,
                tokens: tok,
                revenue_usd: rev,
                cost_usd: cost,
            },
        );
    }

    let (waits, completions) = (&e.stats.waits, &e.stats.completions);
    let by_kind = Kind::ALL
        .iter()
        .map(|&k| {
            let a = &l.kinds[k as usize];
            (
                k.name().to_string(),
                KindFigures {
                    gpu_hours: h(a.productive_us),
                    switch_gpu_hours: h(a.switch_us),
                    tokens: a.tokens,
                    wait_hours: Samples::summary(&[&waits[k as usize]]),
                    completion_hours: Samples::summary(&[&completions[k as usize]]),
                },
            )
        })
        .collect();

    let mut by_tenant = BTreeMap::new();
    for (i, ten) in sc.tenants.iter().enumerate() {
        let row = &l.accounts[i];
        let (mut served, mut demanded) = (0.0, 0.0);
        let mut has_service = false;
        for s in &e.services {
            if sc.workloads[s.workload].tenant == i {
                has_service = true;
                served += s.served;
                demanded += s.demanded;
            }
        }
        by_tenant.insert(
            ten.name.clone(),
            TenantFigures {
                reserved_gpus: ten.reserved_total() as u64,
                gpu_hours: row.iter().map(|a| h(a.productive_us)).sum(),
                tenant_switch_gpu_hours: row.iter().map(|a| h(a.tenant_switch_us)).sum(),
                workflow_switch_gpu_hours: row.iter().map(|a| h(a.workflow_switch_us)).sum(),
                tokens: row.iter().map(|a| a.tokens).sum(),
                slo_attainment: has_service.then(|| {
                    if demanded > 0.0 {
                        served / demanded
                    } else {
                        1.0
                    }
                }),
                revenue_usd: row
                    .iter()
                    .enumerate()
                    .map(|(t, a)| revenue(&ten.billing, sc.gpu_types[t].price_usd_per_gpu_hour, a))
                    .sum(),
            },
        );
    }

    let served: f64 = e.services.iter().map(|s| s.served).sum();
    let demanded: f64 = e.services.iter().map(|s| s.demanded).sum();
    Report {
        scenario: sc.name.clone(),
        policy: e.policy_name().to_string(),
        seed: sc.seed,
        horizon_hours: horizon_h,
        switch_cost_scale: sc.switch_cost_scale,
        gpus: e.cluster.gpus(),
        gpu_utilization: ratio(total.productive, total.total),
        tokens_per_gpu_hour: ratio(tokens, total.total),
        gpu_hours: total,
        tokens,
        by_gpu_type,
        by_kind,
        by_tenant,
        switches: Switches {
            tenant: l.tenant_switches,
            workflow: l.workflow_switches,
        },
        jobs: Jobs {
            submitted: e.stats.submitted_jobs + e.stats.held_jobs,
            completed: e.stats.completed_jobs,
            running: e.stats.running_jobs,
            queued: e.stats.queued_jobs + e.stats.held_jobs,
            rejected: e.stats.rejected_jobs,
            preemptions: e.stats.preemptions,
            interrupted_by_failures: e.stats.jobs_interrupted,
            never_started: [Kind::Training, Kind::Batch]
                .iter()
                .map(|&k| (k.name().to_string(), waits[k as usize].censored()))
                .collect(),
            wait_hours: Samples::summary(&waits.each_ref()),
            completion_hours: Samples::summary(&completions.each_ref()),
            mean_queued: ratio(e.stats.queued_jobs_area as f64, e.now() as f64),
            mean_running: ratio(e.stats.running_jobs_area as f64, e.now() as f64),
        },
        inference: Inference {
            demanded_tokens: demanded,
            served_tokens: served,
            demanded_prompt_tokens: e.services.iter().map(|s| s.demanded_prompt).sum(),
            served_prompt_tokens: e.services.iter().map(|s| s.served_prompt).sum(),
            slo_attainment: if demanded > 0.0 {
                served / demanded
            } else {
                1.0
            },
            replicas_started: e.stats.replicas_started,
            replicas_stopped: e.stats.replicas_stopped,
        },
        economics: Economics {
            revenue_usd: revenue_total,
            cost_usd: cost_total,
            gross_margin: ratio(revenue_total - cost_total, revenue_total),
        },
        traces: sc.traces.clone(),
        engine_stats: EngineStats {
            events: e.stats.events,
            failures: e.stats.failures,
            tokens_lost: l.tokens_lost,
            peak_queue: e.stats.peak_queue as u64,
            peak_pending_events: e.stats.peak_events as u64,
            held_jobs: e.stats.held_jobs,
        },
    }
}
