//! Inference services: demand, the capacity of running replicas, the demand queue between
//! them, and the served, dropped and demanded tokens integrated exactly between the events that
//! change either.

use std::collections::{BTreeSet, VecDeque};

use crate::metrics::delay::Delays;
use crate::units::{Time, secs};
use crate::workload::WorkloadId;

use super::alloc::AllocId;
use super::fluid::Fluid;
use super::request::QueueKey;

#[derive(Clone, Debug)]
pub struct Service {
    pub workload: WorkloadId,
    /// Demanded GPU work now, generated-token equivalents/s (capacity is in the same unit).
    pub demand: f64,
    /// Output and prompt tokens each unit of work stands for in the current step (1 and 0
    /// unless a trace with prompts is replayed).
    pub out_per_work: f64,
    pub prompt_per_work: f64,
    /// Tokens/s of running replicas, per GPU type.
    pub cap_by_type: Vec<f64>,
    /// Running replicas ordered by tokens/s per GPU (least efficient first).
    pub running: BTreeSet<(u64, AllocId)>,
    /// Replicas placed and still switching in, with their future tokens/s.
    pub starting: BTreeSet<AllocId>,
    pub starting_cap: f64,
    /// Replica requests waiting in the queue, in queue order (the latest last).
    pub queued: BTreeSet<QueueKey>,
    pub last: Time,
    /// Start of the current demand step.
    pub demand_since: Time,
    /// Output tokens served and demanded.
    pub served: f64,
    pub demanded: f64,
    /// Prompt tokens served and demanded.
    pub served_prompt: f64,
    pub demanded_prompt: f64,
    pub served_by_type: Vec<f64>,
    /// Demand waiting for capacity, oldest first.
    pub queue: Fluid,
    /// Delays of the output tokens served, and the share within the service's SLO.
    pub delays: Delays,
    /// Output and prompt tokens dropped after waiting `abandon_after`.
    pub dropped: f64,
    pub dropped_prompt: f64,
    /// Replicas placed (running or loading) and their GPUs, now, and integrated over time
    /// since `hold_last` (µs and replica-µs, GPU-µs).
    pub replicas: u32,
    pub gpus: u64,
    pub max_replicas_seen: u32,
    pub replica_us: u128,
    pub gpu_us: u128,
    hold_last: Time,
    /// Replicas placed, each loading its model before it serves.
    pub cold_starts: u64,
    /// Past demand steps `(from, to, work/s)` still inside the autoscaler's window.
    history: VecDeque<(Time, Time, f64)>,
    /// The autoscaler's recent recommendations `(at, capacity)`, for its stabilization.
    recs: VecDeque<(Time, f64)>,
}

impl Service {
    pub fn new(
        workload: WorkloadId,
        types: usize,
        slo_delay: Time,
        abandon_after: Option<Time>,
    ) -> Self {
        Service {
            workload,
            demand: 0.0,
            out_per_work: 1.0,
            prompt_per_work: 0.0,
            cap_by_type: vec![0.0; types],
            running: BTreeSet::new(),
            starting: BTreeSet::new(),
            starting_cap: 0.0,
            queued: BTreeSet::new(),
            last: 0,
            demand_since: 0,
            served: 0.0,
            demanded: 0.0,
            served_prompt: 0.0,
            demanded_prompt: 0.0,
            served_by_type: vec![0.0; types],
            queue: Fluid::new(abandon_after.map(secs)),
            delays: Delays::new(secs(slo_delay)),
            dropped: 0.0,
            dropped_prompt: 0.0,
            replicas: 0,
            gpus: 0,
            max_replicas_seen: 0,
            replica_us: 0,
            gpu_us: 0,
            hold_last: 0,
            cold_starts: 0,
            history: VecDeque::new(),
            recs: VecDeque::new(),
        }
    }

    /// Mean demand over the past `window` up to `now` (or since the start, if shorter),
    /// work/s: what an autoscaler has observed. Forgets steps older than `keep`.
    pub fn observed(&mut self, now: Time, window: Time, keep: Time) -> f64 {
        let from = now.saturating_sub(window);
        let horizon = now.saturating_sub(keep.max(window));
        while self.history.front().is_some_and(|h| h.1 <= horizon) {
            self.history.pop_front();
        }
        let span = now - from;
        if span == 0 {
            return 0.0;
        }
        let work: f64 = (self.history.iter())
            .map(|&(a, b, rate)| rate * secs(b.min(now).saturating_sub(a.max(from))))
            .sum();
        work / secs(span)
    }

    /// Records the recommendation `rec` made at `now` and returns the lowest of those made
    /// within `up` before now and the highest within `down` (both include `rec`).
    pub fn stabilize(&mut self, now: Time, rec: f64, up: Time, down: Time) -> (f64, f64) {
        self.recs.push_back((now, rec));
        let keep = up.max(down);
        while self.recs.front().is_some_and(|r| r.0 + keep < now) {
            self.recs.pop_front();
        }
        let within = |d: Time| {
            self.recs
                .iter()
                .filter(move |r| r.0 + d >= now)
                .map(|r| r.1)
        };
        let lo = within(up).fold(f64::INFINITY, f64::min);
        let hi = within(down).fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    }

    /// A replica of `gpus` GPUs is placed (`add`) or leaves.
    pub fn hold_change(&mut self, now: Time, gpus: u64, add: bool) {
        self.integrate_hold(now);
        if add {
            self.replicas += 1;
            self.gpus += gpus;
            self.cold_starts += 1;
            self.max_replicas_seen = self.max_replicas_seen.max(self.replicas);
        } else {
            self.replicas -= 1;
            self.gpus -= gpus;
        }
    }

    /// Integrates the replicas and GPUs held up to `now`.
    pub fn integrate_hold(&mut self, now: Time) {
        let dt = now.saturating_sub(self.hold_last) as u128;
        self.replica_us += self.replicas as u128 * dt;
        self.gpu_us += self.gpus as u128 * dt;
        self.hold_last = self.hold_last.max(now);
    }

    pub fn capacity(&self) -> f64 {
        self.cap_by_type.iter().sum()
    }

    /// Integrates demanded tokens over the demand step that ends at `now`. Called only at
    /// demand changes (ticks and the horizon), so the sum is the same whatever the policy did.
    pub fn close_demand_step(&mut self, now: Time) {
        if now > self.demand_since {
            self.history
                .push_back((self.demand_since, now, self.demand));
        }
        let work = self.demand * secs(now.saturating_sub(self.demand_since));
        self.demanded += work * self.out_per_work;
        self.demanded_prompt += work * self.prompt_per_work;
        self.demand_since = now;
    }

    /// Runs the demand queue up to `now` at the current demand and capacity, books the tokens
    /// served and dropped, and returns the output and prompt tokens served per GPU type in
    /// that interval (split by the types' shares of capacity).
    pub fn accrue(&mut self, now: Time) -> Vec<(f64, f64)> {
        let (t0, t1) = (self.last, now.max(self.last));
        self.last = t1;
        let cap = self.capacity();
        let mut by_type = vec![(0.0, 0.0); self.cap_by_type.len()];
        if t1 == t0 {
            return by_type;
        }
        let flow = self.queue.advance(
            (secs(t0), secs(t1)),
            self.demand,
            (self.out_per_work, self.prompt_per_work),
            cap,
            &mut self.delays,
        );
        self.served += flow.served_out;
        self.served_prompt += flow.served_prompt;
        self.dropped += flow.dropped_out;
        self.dropped_prompt += flow.dropped_prompt;
        if cap > 0.0 && flow.served_work > 0.0 {
            for (t, c) in self.cap_by_type.iter().enumerate() {
                let share = c / cap;
                by_type[t] = (flow.served_out * share, flow.served_prompt * share);
                self.served_by_type[t] += flow.served_out * share;
            }
        }
        by_type
    }
}

/// Sort key for a replica's efficiency (tokens/s per GPU), exact enough for ordering.
pub fn efficiency_key(rate: f64, gpus: usize) -> u64 {
    ((rate / gpus.max(1) as f64) * 1_000.0).round() as u64
}
