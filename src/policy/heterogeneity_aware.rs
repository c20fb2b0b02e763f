//! `heterogeneity_aware`: one shared pool; each request tries GPU types in the order of its
//! comparative advantage (see `rank.rs`): the type where its speed relative to its best type
//! is high compared with other workloads'. Scarce fast GPUs (GB200) thus go first to the work
//! that gains most from them (decode-heavy inference, batch), while training, which gains
//! less, prefers H100/H200 and spills onto GB200 only when those are full. Within a type it
//! packs like `best_fit`.
//!
//! The order adapts to what waits now: while a training gang wider than a node waits ahead
//! of a request in the queue (nothing fits it), the type that gang is nearest to fitting on
//! (the most of its GPUs on idle whole nodes) goes to the end of the request's order, so work
//! behind the gang drains that type instead of cutting its idle nodes up. The request still
//! takes that type when nothing else fits it.
//!
//! With `simulation.migration` on, it also moves a running training job to a faster type
//! that has room, at the job's next checkpoint, when the time saved exceeds the restart and
//! a tenant switch (`migrate.rs`).
//!
//! Optimizes: tokens per GPU-hour across a mixed fleet (Gavel's heterogeneity-aware idea,
//! as a greedy rule rather than an optimization program). Ignores: switch cost.

use super::best_fit::{fullest_domain, packed};
use super::common::{evict_by_types, place_by_types};
use super::drain::drained;
use super::rank::comparative_advantage;
use super::{Decision, Policy, View};
use crate::fleet::TypeId;
use crate::state::request::Request;
use smallvec::SmallVec;

/// `order` with the types being drained for waiting gangs ([`drained`]) moved to its end
/// (kept in rank order among themselves).
fn drain_last(view: &View, order: &[TypeId]) -> SmallVec<[TypeId; 4]> {
    let drained = drained(view);
    let mut out: SmallVec<[TypeId; 4]> = order
        .iter()
        .copied()
        .filter(|t| !drained.contains(t))
        .collect();
    out.extend(order.iter().copied().filter(|t| drained.contains(t)));
    out
}

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
        let order = drain_last(view, &ranks[req.workload]);
        if let Some(p) = place_by_types(view, req, &order, fullest_domain, packed) {
            return Decision::Place(p);
        }
        evict_by_types(view, req, &order)
            .or_else(|| super::reclaim::for_guarantee(view, req, &order))
            .map_or(Decision::Wait, Decision::Preempt)
    }

    fn migrations(&mut self, view: &View) -> Vec<crate::state::alloc::AllocId> {
        super::migrate::worth_moving(view)
    }
}
