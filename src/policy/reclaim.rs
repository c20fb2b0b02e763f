//! Reclaiming borrowed GPUs for a tenant within its reservation: the step every pooled policy
//! takes when such a request cannot be placed, so that a reservation is a guarantee whatever
//! the policy. It evicts whole nodes, the cheapest first (by the power of two of the victim
//! GPUs, then fleet order; for a wide gang, the domain with the fewest victim GPUs), and only
//! as many as the request needs, taking from each tenant only what it holds beyond its own
//! reservation (so a reclaim cannot be reclaimed back).

use super::View;
use super::common::{Room, nodes_for};
use crate::fleet::cluster::cost_bucket;
use crate::fleet::{NodeId, TypeId};
use crate::state::alloc::AllocId;
use crate::state::request::Request;
use crate::state::rules::allowed_given;
use crate::state::{VictimSet, within_quota};

/// Borrowed allocations to evict so that `req`, of a tenant within its reservation, fits on
/// the first GPU type of `order` where it can: `None` if the tenant is at its reservation or
/// nothing borrowed would make room.
pub fn for_guarantee(view: &View, req: &Request, order: &[TypeId]) -> Option<Vec<AllocId>> {
    if !within_quota(view.scenario, view.cluster, req) {
        return None;
    }
    order.iter().find_map(|&t| {
        let g = req.gpus_on(view.scenario, t)?;
        reclaim(view, req, t, g)
    })
}

/// A node that could be freed: (victim GPUs, victims, node), ordered cheapest first.
type Candidate = (u32, usize, NodeId);

/// Candidate nodes a failing reclaim examines on one GPU type before giving up, beyond the
/// nodes it needs: the candidates come cheapest first, so when this many in a row cannot be
/// evicted (still in their exemption, or their tenant would fall below its reservation) the
/// rest are costlier ones of the same tenants, and the request is asked again at the next
/// event. Without a bound a guaranteed request that cannot reclaim yet rescans every borrowed
/// node of a fleet at each offer.
pub const RECLAIM_SCAN: usize = 64;

/// The cost of freeing node `n` for `req`: (victim GPUs, victims), if every holder may be
/// evicted. Victims are whole allocations, so a gang spanning many nodes costs all its GPUs.
/// `within`: whether `req` keeps its tenant within its reservation.
fn reclaim_cost(view: &View, req: &Request, n: NodeId, within: bool) -> Option<(u32, usize)> {
    let node = &view.cluster.nodes[n as usize];
    // Some holder is still in its exemption: no need to look at each.
    if node.down || node.locked > 0 || node.used == 0 || node.evictable_at > view.now {
        return None;
    }
    let mut gpus = 0;
    for id in node.allocs() {
        let a = view.allocs.get(id)?;
        if !allowed_given(view.scenario, view.cluster, req, a, view.now, || within) {
            return None;
        }
        gpus += a.gpus.len() as u32;
    }
    Some((gpus, node.holders.len()))
}

/// Adds the victims on node `n` to `picked` if the grown set is still allowed (each of them
/// already passed [`preemption_allowed`] in [`reclaim_cost`]; nothing changes while a policy
/// decides).
fn try_add(view: &View, req: &Request, picked: &mut VictimSet, n: NodeId) -> bool {
    let victims: Option<Vec<(AllocId, &crate::state::alloc::Alloc)>> =
        (view.cluster.nodes[n as usize].allocs())
            .map(|id| view.allocs.get(id).map(|a| (id, a)))
            .collect();
    victims.is_some_and(|v| picked.add(view.scenario, view.cluster, req, &v))
}

/// Minimal reclaim on type `t`: the cheapest nodes (or, for a wide gang, the cheapest domain)
/// whose eviction makes room for `g` GPUs, taking from each tenant only what it borrowed.
pub fn reclaim(view: &View, req: &Request, t: TypeId, g: u32) -> Option<Vec<AllocId>> {
    let c = view.cluster;
    let within = within_quota(view.scenario, c, req);
    let candidates = |nodes: &mut dyn Iterator<Item = NodeId>| -> Vec<Candidate> {
        let mut v: Vec<Candidate> = nodes
            .filter_map(|n| reclaim_cost(view, req, n, within).map(|(gp, k)| (gp, k, n)))
            .collect();
        v.sort_unstable();
        v
    };
    if req.needs_one_domain(view.scenario, t) {
        let need = nodes_for(g, c.types[t].node_gpus) as usize;
        let mut best: Option<(u32, VictimSet)> = None;
        for &d in c.domains_of(t) {
            let idle = c.idle_nodes_in(d) as usize;
            if idle >= need {
                continue; // placement would have found it
            }
            let found = candidates(&mut c.domain_nodes(d));
            // Skip domains that cannot be freed, or not more cheaply than the best so far:
            // whatever is picked costs at least the cheapest candidates that would do.
            if idle + found.len() < need {
                continue;
            }
            let floor: u32 = found[..need - idle].iter().map(|f| f.0).sum();
            if best.as_ref().is_some_and(|b| floor >= b.0) {
                continue;
            }
            let mut picked = VictimSet::new(view.scenario.tenants.len());
            let mut freed = idle;
            let mut cost = 0;
            for (gp, _, n) in found {
                if freed >= need {
                    break;
                }
                if try_add(view, req, &mut picked, n) {
                    freed += 1;
                    cost += gp;
                }
            }
            if freed >= need && best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, picked));
            }
        }
        return best.map(|(_, v)| v.ids.into_iter().collect());
    }
    let mut room = Room::new(c, t, req.tenant, g, c.idle_node_count(t));
    if room.enough() {
        return None; // placement can use idle nodes: nothing to evict for
    }
    let mut picked = VictimSet::new(view.scenario.tenants.len());
    // Only nodes whose every holder could pass `preemption_allowed` are candidates: all the
    // nodes of a tenant the request may reclaim from (another tenant above its reservation,
    // the requester within its own), and, if the request is not preemptible, nodes of only
    // preemptible work of its own tenant or of a tenant above its reservation. The cost index
    // yields each tenant's nodes cheapest first; merged, they come in the order of ranking
    // every node of the type, without visiting the others.
    let sc = view.scenario;
    let mut sources: Vec<_> = (0..sc.tenants.len())
        .filter_map(|u| {
            let above = u != req.tenant && view.occupied[u] > sc.tenants[u].reserved_total() as u64;
            let reclaim_all = above && within;
            let yields = !req.preemptible && (u == req.tenant || above);
            (reclaim_all || yields).then(|| c.nodes_by_eviction_cost(t, u, !reclaim_all).peekable())
        })
        .collect();
    let next = |sources: &mut Vec<std::iter::Peekable<_>>| {
        let i = (0..sources.len())
            .filter_map(|i| sources[i].peek().map(|k| (*k, i)))
            .min()?
            .1;
        sources[i].next()
    };
    let mut refused = 0;
    while let Some((bucket, n)) = next(&mut sources) {
        if refused > RECLAIM_SCAN {
            return None;
        }
        match reclaim_cost(view, req, n, within) {
            None => {
                refused += 1;
                continue;
            }
            Some((gp, _)) => debug_assert_eq!(cost_bucket(gp), bucket, "cost index of node {n}"),
        }
        if !try_add(view, req, &mut picked, n) {
            refused += 1;
            continue;
        }
        room.empty(&c.nodes[n as usize]);
        if room.enough() {
            return Some(picked.ids.into_iter().collect());
        }
    }
    None
}
