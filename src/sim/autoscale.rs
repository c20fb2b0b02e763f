//! Services and autoscaling: the autoscaling tick, integrating a service's served tokens,
//! and adding or removing replicas to match its demand.

use super::request::ServiceId;
use crate::workload::demand;
use crate::workload::{Kind, ScaleMode, Spec};

use super::engine::{End, Engine, Ev};

impl Engine {
    /// Autoscaling, and a placement pass if work waits: a policy may choose to wait (for a
    /// cheaper node, or until switching pays), and must be asked again even if nothing else
    /// changes.
    pub(super) fn tick(&mut self) {
        for s in 0..self.services.len() {
            self.autoscale(s as ServiceId);
        }
        if self.sc.migration {
            self.plan_migrations();
        }
        if !self.queue.is_empty() {
            self.dirty = true;
        }
        let next = self.now + self.sc.autoscale_interval;
        if next < self.sc.horizon {
            self.push(Ev::Tick, next);
        }
    }

    /// Integrates a service's tokens to now and books them.
    #[inline]
    pub(super) fn accrue_service(&mut self, s: ServiceId) {
        let svc = &mut self.services[s as usize];
        let by_type = svc.accrue(self.now);
        let w = &self.sc.workloads[svc.workload];
        let (tenant, work_rate) = (w.tenant, w.work_rate);
        for (t, (out, prompt)) in by_type.into_iter().enumerate() {
            if out > 0.0 || prompt > 0.0 {
                (self.ledger).book_tokens(tenant, t, Kind::Inference, out, work_rate);
                self.ledger.accounts[tenant][t].prompt_tokens += prompt;
            }
        }
    }

    /// Sets demand for the coming interval and adds or removes replicas to match it.
    pub(super) fn autoscale(&mut self, s: ServiceId) {
        self.accrue_service(s);
        let wi = self.services[s as usize].workload;
        let w = &self.sc.workloads[wi];
        let Spec::Inference(spec) = &w.spec else {
            return;
        };
        let mid = (self.now + self.sc.autoscale_interval / 2).min(self.sc.horizon);
        let end = (self.now + self.sc.autoscale_interval).min(self.sc.horizon);
        let step = demand::step(spec, self.now, end, mid);
        let min_r = spec.min_replicas as usize;
        // Queued replicas are counted at the best capacity they could get, so the queue is
        // not overfilled; the next tick tops up if they land on slower GPUs.
        // Types the fleet has none of cannot host a replica: their demand goes unserved.
        let est = (0..self.sc.gpu_types.len())
            .filter(|&t| self.cluster.type_gpus[t] > 0)
            .filter_map(|t| Some(w.rate(t)? * w.replica_gpus[t]? as f64))
            .fold(0.0, f64::max);
        let (mode, scaler) = (spec.autoscaler.mode, spec.autoscaler.clone());
        let max_r = scaler.max_replicas.map_or(usize::MAX, |m| m as usize);
        let svc = &mut self.services[s as usize];
        svc.close_demand_step(self.now);
        svc.demand = step.work_per_s;
        svc.out_per_work = step.out_per_work;
        svc.prompt_per_work = step.prompt_per_work;
        let placed_cap = svc.capacity() + svc.starting_cap;
        let placed = svc.running.len() + svc.starting.len();
        // The capacity to provision for: the coming demand itself (oracle), or the demand
        // observed over the trailing window (reactive), held within its stabilization bounds.
        // What waits is drained by the headroom `target_utilization` leaves, not provisioned
        // for: sizing for the queue as well overshoots whenever replicas take long to load,
        // and a pooled fleet pays for each overshoot in evictions and switches. At the start
        // the service is taken to have been running at its demand then, so it is sized for
        // it (its replicas still load first).
        let desired = match mode {
            ScaleMode::Oracle => step.work_per_s / spec.target_utilization,
            ScaleMode::Reactive => {
                let keep = scaler.scale_up_delay.max(scaler.scale_down_delay);
                let seen = match self.now {
                    0 => step.work_per_s,
                    _ => svc.observed(self.now, scaler.window, keep),
                };
                let rec = seen / spec.target_utilization;
                let (up, down) = svc.stabilize(
                    self.now,
                    rec,
                    scaler.scale_up_delay,
                    scaler.scale_down_delay,
                );
                let current = placed_cap + svc.queued.len() as f64 * est;
                current.max(up).min(down)
            }
        };
        let mut have = placed_cap;
        let mut want_queued = if est > 0.0 {
            ((desired - have).max(0.0) / est).ceil() as usize
        } else {
            0
        };
        if est > 0.0 {
            want_queued = want_queued.max(min_r.saturating_sub(placed));
        }
        // Never more replicas than the fleet could hold at once, whatever the demand: the
        // queue is bounded by the fleet, not by a demand figure.
        let hostable: u64 = (0..self.sc.gpu_types.len())
            .filter(|&t| w.rate(t).is_some())
            .filter_map(|t| Some(self.cluster.type_gpus[t] as u64 / w.replica_gpus[t]? as u64))
            .sum();
        want_queued = want_queued.min(hostable.saturating_sub(placed as u64) as usize);
        want_queued = want_queued.min(max_r.saturating_sub(placed));
        while self.services[s as usize].queued.len() > want_queued {
            let key = *self.services[s as usize].queued.last().expect("non-empty");
            self.dequeue(&key);
        }
        while self.services[s as usize].queued.len() < want_queued {
            let req = self.replica_request(s);
            self.enqueue(req);
        }
        if want_queued == 0 {
            loop {
                let svc = &self.services[s as usize];
                if svc.running.len() + svc.starting.len() <= min_r {
                    break;
                }
                let Some(&(_, id)) = svc.running.iter().next() else {
                    break;
                };
                let r = self.allocs.get(id).expect("running replica").rate;
                if have - r < desired {
                    break;
                }
                have -= r;
                self.release(id, End::ScaledDown);
                self.stats.replicas_stopped += 1;
            }
        }
    }
}
