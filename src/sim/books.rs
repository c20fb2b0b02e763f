//! Booking into the ledger: an allocation's phase charged in the state it implies, and the
//! books closed at the horizon.

use super::alloc::{Alloc, Phase};
use super::job::JobState;
use super::request::{ServiceId, Target};
use crate::fleet::TypeId;
use crate::fleet::cluster::GpuState;
use crate::metrics::Ledger;
use crate::units::Time;
use crate::workload::Kind;

use super::engine::Engine;

/// Books an allocation's current phase, from its start up to `now`, in the state it implies.
/// A loading job's phase is its workflow switch and then, if it has started by `now`, its run;
/// the state integrals counted its GPUs as switching throughout, so the run's part moves to
/// busy there.
#[inline]
pub(super) fn book_phase(ledger: &mut Ledger, a: &Alloc, now: Time) {
    let gpus = a.phase_gpus() as u128;
    let (t, kind) = (a.gpu_type, a.kind);
    if a.loading {
        let loaded = a.phase_start.min(now);
        let from = a.phase_start - a.workflow_switch;
        let switch_us = gpus * (loaded - from) as u128;
        let ws = GpuState::WorkflowSwitch;
        ledger.book_time(a.tenant, t, kind, ws, switch_us);
        ledger.book_energy(t, ws, kind, gpus as u64, from, loaded);
        let run_us = gpus * (now - loaded) as u128;
        if run_us > 0 {
            ledger.book_time(a.tenant, t, kind, GpuState::Busy, run_us);
            ledger.move_state_time(t, ws, GpuState::Busy, run_us);
            ledger.book_energy(t, GpuState::Busy, kind, gpus as u64, loaded, now);
        }
        return;
    }
    let gpu_us = gpus * (now - a.phase_start) as u128;
    let state = a.phase.gpu_state();
    ledger.book_time(a.tenant, t, kind, state, gpu_us);
    ledger.book_energy(t, state, kind, gpus as u64, a.phase_start, now);
}

impl Engine {
    /// Closes the books at the horizon: open phases are charged up to now, running jobs keep
    /// the tokens produced so far (they would go on), services are integrated to the end.
    pub(super) fn finish(&mut self) {
        for m in &mut self.ledger.meters {
            m.advance(self.now);
        }
        for (_, a) in self.allocs.iter() {
            book_phase(&mut self.ledger, a, self.now);
        }
        let progress: Vec<(usize, TypeId, Kind, f64, f64)> = self
            .allocs
            .iter()
            .filter_map(|(_, a)| match (a.phase, a.target) {
                (Phase::Running, Target::Job(j)) => Some((
                    a.tenant,
                    a.gpu_type,
                    a.kind,
                    self.job_progress(a, j).0,
                    self.sc.workloads[a.workload].work_rate,
                )),
                _ => None,
            })
            .collect();
        for (tenant, t, kind, produced, work_rate) in progress {
            self.ledger
                .book_tokens(tenant, t, kind, produced, work_rate);
        }
        for s in 0..self.services.len() {
            self.accrue_service(s as ServiceId);
            self.services[s].close_demand_step(self.now);
            self.services[s].integrate_hold(self.now);
        }
        // Jobs in the system at the horizon count in the wait and completion figures with their
        // time so far (censored), so work that never started is not left out of them.
        for job in &self.jobs {
            if matches!(job.state, JobState::Queued | JobState::Running) {
                let kind = self.sc.workloads[job.workload()].kind() as usize;
                let so_far = self.now.saturating_sub(job.arrival);
                if job.first_start().is_none() {
                    self.stats.waits[kind].push_censored(so_far);
                    if kind == Kind::Training as usize {
                        let tenant = self.sc.workloads[job.workload()].tenant;
                        self.stats.training_waits[tenant].push_censored(so_far);
                    }
                }
                self.stats.completions[kind].push_censored(so_far);
            }
        }
        self.close_held();
        self.ledger.energy.flush();
        self.finished = true;
    }
}
