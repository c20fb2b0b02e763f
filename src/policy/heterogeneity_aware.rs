//! `heterogeneity_aware`: one shared pool; each request tries GPU types in the order of its
//! comparative advantage (see `rank.rs`): the type where its speed relative to its best type
//! is high compared with other workloads'. Scarce fast GPUs (GB200) thus go first to the work
//! that gains most from them (decode-heavy inference, batch), while training, which gains
//! less, prefers H100/H200 and spills onto GB200 only when those are full. Within a type it
//! packs like `best_fit`.
//!
//! With `simulation.migration` on, it also moves a running training job to a faster type
//! that has room, at the job's next checkpoint, when the time saved exceeds the restart and
//! a tenant switch (`migrate.rs`).
//!
//! Optimizes: tokens per GPU-hour across a mixed fleet (Gavel's heterogeneity-aware idea,
//! as a greedy rule rather than an optimization program). Ignores: switch cost.

use super::best_fit::{fullest_domain, packed};
use super::common::{evict_by_types, place_by_types};
use super::rank::comparative_advantage;
use super::{Decision, Policy, View};
use crate::fleet::TypeId;
use crate::state::request::Request;

#[derive(Default)]
pub struct HeterogeneityAware {
    ranks: Option<Vec<Vec<TypeId>>>,
}

impl Policy for HeterogeneityAware {
    fn name(&self) -> &'static str {
        "heterogeneity_aware"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let ranks = self
            .ranks
            .get_or_insert_with(|| comparative_advantage(view.scenario));
        let order = &ranks[req.workload];
        if let Some(p) = place_by_types(view, req, order, fullest_domain, packed) {
            return Decision::Place(p);
        }
        evict_by_types(view, req, order)
            .or_else(|| super::reclaim::for_guarantee(view, req, order))
            .map_or(Decision::Wait, Decision::Preempt)
    }

    fn migrations(&mut self, view: &View) -> Vec<crate::state::alloc::AllocId> {
        super::migrate::worth_moving(view)
    }
}
