//! `heterogeneity_aware`: one shared pool; each request tries GPU types in the order of its
//! comparative advantage (see `rank.rs`): the type where its speed relative to its best type
//! is high compared with other workloads'. Scarce fast GPUs (GB200) thus go first to the work
//! that gains most from them (decode-heavy inference, batch), while training, which gains
//! less, prefers H100/H200 and spills onto GB200 only when those are full. Within a type it
//! packs like `best_fit`.
//!
//! Optimizes: tokens per GPU-hour across a mixed fleet (Gavel's heterogeneity-aware idea,
//! as a greedy rule rather than an optimization program). Ignores: switch cost.

use super::best_fit::{fullest_domain, packed};
use super::common::victims_for;
use super::rank::comparative_advantage;
use super::{Decision, Policy, View};
use crate::fleet::TypeId;
use crate::sim::request::Request;

#[derive(Default)]
pub struct HeterogeneityAware {
    ranks: Option<Vec<Vec<TypeId>>>,
}

impl Policy for HeterogeneityAware {
    fn name(&self) -> &'static str {
        "heterogeneity_aware"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let c = view.cluster;
        let sc = view.scenario;
        let ranks = self.ranks.get_or_insert_with(|| comparative_advantage(sc));
        for &t in &ranks[req.workload] {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if c.available(t, req.tenant) < g as u64 {
                continue;
            }
            let placed = if req.needs_one_domain(sc, t) {
                fullest_domain(c, t, g)
            } else {
                packed(c, t, req.tenant, g)
            };
            if let Some(p) = placed {
                return Decision::Place(p);
            }
        }
        for &t in &ranks[req.workload] {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if let Some(v) = victims_for(view, req, t, g, c.available(t, req.tenant), |_| true) {
                return Decision::Preempt(v);
            }
        }
        Decision::Wait
    }
}
