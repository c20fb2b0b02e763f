//! The run report: built from the engine's ledger after the horizon, written as JSON with
//! stable field names, and rendered as tables for the terminal.

mod finite;
pub mod money;
mod render;
pub mod services;

pub use crate::metrics::percentile;
pub use finite::first_non_finite;
pub use render::{num, render};

use serde::Serialize;
use std::collections::BTreeMap;

use crate::fleet::cluster::GpuState;
use crate::metrics::Samples;
use crate::sim::Engine;
use crate::units::US_PER_HOUR;
use crate::workload::Kind;
use money::{ByContract, EnergyFigures, Work};

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
    pub work: Work,
    /// GPU-hours the tenants' contracts billed on this type.
    pub billed_gpu_hours: f64,
    /// Revenue net of SLA credits.
    pub revenue_usd: f64,
    /// Capital and energy.
    pub cost_usd: f64,
    pub energy: EnergyFigures,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindFigures {
    /// Productive GPU-hours.
    pub gpu_hours: f64,
    pub switch_gpu_hours: f64,
    pub tokens: f64,
    /// Work per GPU-hour this kind held (productive and switching).
    pub work: Work,
    /// Jobs of this kind (training, batch): hours from arrival to first start, censored at
    /// the horizon for jobs that never started (see [`Jobs::wait_hours`]).
    pub wait_hours: Percentiles,
    /// Jobs of this kind: hours from arrival to completion, censored at the horizon for jobs
    /// not done.
    pub completion_hours: Percentiles,
    /// When the kind's last job finished, in hours from the start.
    pub makespan_hours: Makespan,
}

/// When a kind's last job finished: the last completion if every job of the kind submitted by
/// the horizon is done, else the horizon itself, marked `censored` (the makespan is then at
/// least that); `hours` is `null` for a kind without jobs.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Makespan {
    pub hours: Option<f64>,
    pub censored: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TenantFigures {
    /// `committed`, `on_demand`, `spot` or `per_token`.
    pub contract: String,
    pub reserved_gpus: u64,
    /// Productive GPU-hours.
    pub gpu_hours: f64,
    pub tenant_switch_gpu_hours: f64,
    pub workflow_switch_gpu_hours: f64,
    pub tokens: f64,
    /// Prompt tokens served (replayed traces that give them).
    pub prompt_tokens: f64,
    /// Inference tokens served within their service's SLO delay over those demanded; `null`
    /// for a tenant with no inference service.
    pub slo_attainment: Option<f64>,
    /// GPU-hours held outside tenant switches (productive and its own workflow switches).
    pub held_gpu_hours: f64,
    /// GPU-hours its contract billed: every reserved hour under take-or-pay plus any burst
    /// beyond it; the hours held otherwise.
    pub billed_gpu_hours: f64,
    /// Reserved GPU-hours its waiting work wanted and did not get (see `docs/report.md`).
    pub guarantee_shortfall_gpu_hours: f64,
    /// Of that, GPU-hours of GPUs already placed for it and in their tenant switch (the
    /// scrub a pooled fleet pays before a GPU another tenant used is this one's); the rest
    /// waited for GPUs to be assigned at all.
    pub shortfall_in_switch_gpu_hours: f64,
    /// Its training jobs' waits from arrival to first start (hours; jobs never started
    /// count, censored, with their wait so far), as `by_kind.training.wait_hours` per tenant.
    pub training_wait_hours: Percentiles,
    /// The longest spell, in hours, during which it was short without a break.
    pub longest_shortfall_hours: f64,
    pub sla_credits_usd: f64,
    /// Work per GPU-hour held.
    pub work: Work,
    /// What its contract billed, net of SLA credits.
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
    /// Training jobs moved to a faster GPU type at a checkpoint (`simulation.migration`).
    pub migrations: u64,
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
    /// Output tokens served within their service's SLO delay, dropped after waiting
    /// `abandon_after`, and still waiting at the horizon.
    pub served_within_slo_tokens: f64,
    pub dropped_tokens: f64,
    pub queued_tokens: f64,
    /// Served within the SLO delay over demanded, all services' tokens together.
    pub slo_attainment: f64,
    /// The lowest of the services' attainments, and that service (`null` with no demand).
    pub worst_slo_attainment: Option<f64>,
    pub worst_service: Option<String>,
    pub replicas_started: u64,
    pub replicas_stopped: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Economics {
    /// Revenue by contract minus SLA credits.
    pub revenue_usd: f64,
    /// Capital plus energy.
    pub cost_usd: f64,
    pub gross_margin: f64,
    /// GPU-hours billed (reserved hours of take-or-pay contracts count used or not).
    pub billed_gpu_hours: f64,
    /// Billed over total GPU-hours (above 1 when committed GPUs left unused are lent out).
    pub billed_utilization: f64,
    pub revenue_by_contract: ByContract<f64>,
    /// Revenue over billed GPU-hours, per contract (`null` for a contract nobody holds).
    pub revenue_per_gpu_hour: ByContract<Option<f64>>,
    /// Of committed revenue: GPUs held beyond a reservation, at the tenant's burst price.
    pub burst_usd: f64,
    pub sla_credits_usd: f64,
    pub guarantee_shortfall_gpu_hours: f64,
    /// Of that, GPU-hours in tenant switches of GPUs already placed (see `by_tenant`).
    pub shortfall_in_switch_gpu_hours: f64,
    pub cost_by_part: CostParts,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CostParts {
    /// Depreciation, facility, network and operations: every GPU-hour, used or not.
    pub capital: f64,
    /// Facility energy at `economics.energy_usd_per_kwh`.
    pub energy: f64,
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
    /// Work per GPU-hour of the fleet.
    pub work: Work,
    pub energy: EnergyFigures,
    pub by_gpu_type: BTreeMap<String, TypeFigures>,
    pub by_kind: BTreeMap<String, KindFigures>,
    pub by_tenant: BTreeMap<String, TenantFigures>,
    pub by_service: BTreeMap<String, services::ServiceFigures>,
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

    let bills: Vec<money::Bill> = (0..sc.tenants.len())
        .map(|i| money::bill(sc, l, i))
        .collect();
    let energy_price = sc.economics.energy_usd_per_kwh;
    let mut by_gpu_type = BTreeMap::new();
    let mut total = GpuHours::default();
    let mut tokens = 0.0;
    let mut work_total = 0.0;
    let mut revenue_total = 0.0;
    let (mut capital_total, mut energy_cost_total) = (0.0, 0.0);
    for (t, ty) in sc.gpu_types.iter().enumerate() {
        let gh = hours_of(t);
        let tok: f64 = l.accounts.iter().map(|row| row[t].tokens).sum();
        let work: f64 = l.accounts.iter().map(|row| row[t].work_h).sum();
        let rev: f64 = bills.iter().map(|b| b.usd[t] - b.credits_usd[t]).sum();
        let billed: f64 = bills.iter().map(|b| b.billed_h[t]).sum();
        let energy = money::energy_of(sc, l, &[t], tok);
        let capital = ty.capital_usd_per_gpu_hour * gh.total;
        let energy_cost = energy.kwh * energy_price;
        total.total += gh.total;
        total.productive += gh.productive;
        total.tenant_switch += gh.tenant_switch;
        total.workflow_switch += gh.workflow_switch;
        total.idle += gh.idle;
        total.down += gh.down;
        tokens += tok;
        work_total += work;
        revenue_total += rev;
        capital_total += capital;
        energy_cost_total += energy_cost;
        by_gpu_type.insert(
            ty.name.clone(),
            TypeFigures {
                gpus: e.cluster.type_gpus[t] as u64,
                gpu_utilization: ratio(gh.productive, gh.total),
                tokens_per_gpu_hour: ratio(tok, gh.total),
                work: Work::of(work, gh.total),
                billed_gpu_hours: billed,
                gpu_hours: gh,
                tokens: tok,
                revenue_usd: rev,
                cost_usd: capital + energy_cost,
                energy,
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
                    work: Work::of(a.work_h, h(a.productive_us + a.switch_us)),
                    wait_hours: Samples::summary(&[&waits[k as usize]]),
                    completion_hours: Samples::summary(&[&completions[k as usize]]),
                    makespan_hours: {
                        let censored = completions[k as usize].censored() > 0;
                        let last = e.stats.last_completion[k as usize];
                        Makespan {
                            hours: if censored {
                                Some(h(e.now() as u128))
                            } else {
                                last.map(|t| h(t as u128))
                            },
                            censored,
                        }
                    },
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
                served += s.delays.within;
                demanded += s.demanded;
            }
        }
        let b = &bills[i];
        let held: f64 = l.meters[i].held_us.iter().map(|&us| h(us)).sum();
        let credits: f64 = b.credits_usd.iter().sum();
        by_tenant.insert(
            ten.name.clone(),
            TenantFigures {
                contract: ten.contract.name().to_string(),
                reserved_gpus: ten.reserved_total() as u64,
                gpu_hours: row.iter().map(|a| h(a.productive_us)).sum(),
                tenant_switch_gpu_hours: row.iter().map(|a| h(a.tenant_switch_us)).sum(),
                workflow_switch_gpu_hours: row.iter().map(|a| h(a.workflow_switch_us)).sum(),
                tokens: row.iter().map(|a| a.tokens).sum(),
                prompt_tokens: row.iter().map(|a| a.prompt_tokens).sum(),
                slo_attainment: has_service.then(|| {
                    if demanded > 0.0 {
                        (served / demanded).min(1.0)
                    } else {
                        1.0
                    }
                }),
                held_gpu_hours: held,
                billed_gpu_hours: b.billed_h.iter().sum(),
                guarantee_shortfall_gpu_hours: b.shortfall_h,
                shortfall_in_switch_gpu_hours: b.shortfall_in_switch_h,
                training_wait_hours: Samples::summary(&[&e.stats.training_waits[i]]),
                longest_shortfall_hours: h(l.meters[i].longest_shortfall_us as u128),
                sla_credits_usd: credits,
                work: Work::of(row.iter().map(|a| a.work_h).sum(), held),
                revenue_usd: b.usd.iter().sum::<f64>() - credits,
            },
        );
    }

    let mut revenue_by_contract = ByContract::<f64>::default();
    let mut billed_by_contract = ByContract::<f64>::default();
    for (ten, b) in sc.tenants.iter().zip(&bills) {
        *revenue_by_contract.get_mut(&ten.contract) += b.usd.iter().sum::<f64>();
        *billed_by_contract.get_mut(&ten.contract) += b.billed_h.iter().sum::<f64>();
    }
    let per_hour = |r: f64, b: f64| (b > 0.0).then(|| r / b);
    let revenue_per_gpu_hour = ByContract {
        committed: per_hour(revenue_by_contract.committed, billed_by_contract.committed),
        on_demand: per_hour(revenue_by_contract.on_demand, billed_by_contract.on_demand),
        spot: per_hour(revenue_by_contract.spot, billed_by_contract.spot),
        per_token: per_hour(revenue_by_contract.per_token, billed_by_contract.per_token),
    };
    let billed_total: f64 = bills.iter().flat_map(|b| &b.billed_h).sum();
    let credits_total: f64 = bills.iter().flat_map(|b| &b.credits_usd).sum();
    let cost_total = capital_total + energy_cost_total;
    let all_types: Vec<usize> = (0..sc.gpu_types.len()).collect();
    let total_gpu_hours = total.total;

    let served: f64 = e.services.iter().map(|s| s.served).sum();
    let demanded: f64 = e.services.iter().map(|s| s.demanded).sum();
    let within: f64 = e.services.iter().map(|s| s.delays.within).sum();
    let by_service = services::by_service(e);
    let worst = services::worst(&by_service);
    let dropped: f64 = by_service.values().map(|f| f.dropped_tokens).sum();
    let queued: f64 = by_service.values().map(|f| f.queued_tokens).sum();
    Report {
        scenario: sc.name.clone(),
        policy: e.policy_name().to_string(),
        seed: sc.seed,
        horizon_hours: horizon_h,
        switch_cost_scale: sc.switch_cost_scale,
        gpus: e.cluster.gpus(),
        gpu_utilization: ratio(total.productive, total.total),
        tokens_per_gpu_hour: ratio(tokens, total.total),
        work: Work::of(work_total, total.total),
        energy: money::energy_of(sc, l, &all_types, tokens),
        gpu_hours: total,
        tokens,
        by_gpu_type,
        by_kind,
        by_tenant,
        by_service,
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
            migrations: e.stats.migrations,
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
            served_within_slo_tokens: within,
            dropped_tokens: dropped,
            queued_tokens: queued,
            slo_attainment: if demanded > 0.0 {
                (within / demanded).min(1.0)
            } else {
                1.0
            },
            worst_slo_attainment: worst.as_ref().map(|w| w.1),
            worst_service: worst.map(|w| w.0),
            replicas_started: e.stats.replicas_started,
            replicas_stopped: e.stats.replicas_stopped,
        },
        economics: Economics {
            revenue_usd: revenue_total,
            cost_usd: cost_total,
            gross_margin: ratio(revenue_total - cost_total, revenue_total),
            billed_gpu_hours: billed_total,
            billed_utilization: ratio(billed_total, total_gpu_hours),
            revenue_by_contract,
            revenue_per_gpu_hour,
            burst_usd: bills.iter().map(|b| b.burst_usd).sum(),
            sla_credits_usd: credits_total,
            guarantee_shortfall_gpu_hours: bills.iter().map(|b| b.shortfall_h).sum(),
            shortfall_in_switch_gpu_hours: bills.iter().map(|b| b.shortfall_in_switch_h).sum(),
            cost_by_part: CostParts {
                capital: capital_total,
                energy: energy_cost_total,
            },
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
