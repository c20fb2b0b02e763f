//! Inference services: demand, the capacity of running replicas, and the served and demanded
//! tokens integrated exactly between the events that change either.

use std::collections::BTreeSet;

use crate::units::{Time, secs};
use crate::workload::WorkloadId;

use super::alloc::AllocId;
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
}

impl Service {
    pub fn new(workload: WorkloadId, types: usize) -> Self {
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
        }
    }

    pub fn capacity(&self) -> f64 {
        self.cap_by_type.iter().sum()
    }

    /// Integrates demanded tokens over the demand step that ends at `now`. Called only at
    /// demand changes (ticks and the horizon), so the sum is the same whatever the policy did.
    pub fn close_demand_step(&mut self, now: Time) {
        let work = self.demand * secs(now.saturating_sub(self.demand_since));
        self.demanded += work * self.out_per_work;
        self.demanded_prompt += work * self.prompt_per_work;
        self.demand_since = now;
    }

    /// Integrates served tokens up to `now` at the current rates, and returns the work served
    /// per GPU type in that interval (output tokens are `out_per_work` of it, prompt tokens
    /// `prompt_per_work`).
    pub fn accrue(&mut self, now: Time) -> Vec<f64> {
        let dt = secs(now.saturating_sub(self.last));
        self.last = now;
        let cap = self.capacity();
        let work = self.demand.min(cap) * dt;
        let out = work * self.out_per_work;
        self.served += out;
        self.served_prompt += work * self.prompt_per_work;
        let mut by_type = vec![0.0; self.cap_by_type.len()];
        if cap > 0.0 && dt > 0.0 {
            for (t, c) in self.cap_by_type.iter().enumerate() {
                by_type[t] = work * c / cap;
                self.served_by_type[t] += by_type[t] * self.out_per_work;
            }
        }
        by_type
    }
}

/// Sort key for a replica's efficiency (tokens/s per GPU), exact enough for ordering.
pub fn efficiency_key(rate: f64, gpus: usize) -> u64 {
    ((rate / gpus.max(1) as f64) * 1_000.0).round() as u64
}
