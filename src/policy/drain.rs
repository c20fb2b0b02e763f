//! Which GPU types other work should leave to the training gangs that wait for them: each
//! waiting gang wider than a node ([`View::waiting`]) drains the type it is nearest to
//! fitting on, the one with the most of its GPUs free on idle whole nodes.

use super::View;
use crate::fleet::TypeId;
use crate::state::request::Request;
use smallvec::SmallVec;

/// The type a waiting gang drains: the most of its GPUs free on idle whole nodes there (ties
/// to the lower type id); `None` if it runs on no type of the fleet.
pub fn nearest_fit(view: &View, gang: &Request) -> Option<TypeId> {
    let (c, sc) = (view.cluster, view.scenario);
    (0..sc.gpu_types.len())
        .filter_map(|t| {
            let g = gang.gpus_on(sc, t)? as u64;
            let idle = c.idle_node_count(t) * sc.gpu_types[t].node_gpus as u64;
            Some((t, idle.min(g) as f64 / g as f64))
        })
        .fold(None, |best: Option<(TypeId, f64)>, (t, share)| match best {
            Some((_, b)) if b >= share => best,
            _ => Some((t, share)),
        })
        .map(|(t, _)| t)
}

/// The types drained for the gangs in `view.waiting`, each once, in the gangs' queue order.
pub fn drained(view: &View) -> SmallVec<[TypeId; 4]> {
    let mut out: SmallVec<[TypeId; 4]> = SmallVec::new();
    for t in view
        .waiting
        .iter()
        .filter_map(|gang| nearest_fit(view, gang))
    {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
