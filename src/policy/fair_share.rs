//! `fair_share`: guaranteed quotas with lending, the quota/cohort model of Kubernetes batch
//! schedulers (Kueue, Volcano, KAI). Each tenant's reservation is its guaranteed quota (in
//! GPUs, any type). Idle GPUs are lent to whoever asks; when a tenant below its quota cannot
//! place work, it reclaims borrowed GPUs by preempting the allocations of tenants above their
//! quota, as long as the tenant occupies at most `RECLAIM_BELOW` (90 %) of its own quota and
//! the request fits within it (hysteresis, so tenants at their quotas do not reclaim from each
//! other in turn). Quotas count the GPUs of the nodes a tenant occupies. A tenant
//! over its quota evicts nobody else's work, only its own preemptible work; otherwise quotas
//! flap back and forth (the Kueue rule: only work within nominal quota reclaims).
//!
//! Preemption is deterministic and minimal: it evicts whole nodes, choosing the nodes whose
//! victims hold the fewest GPUs (then the fewest victims, then fleet order), and only as many
//! as the request needs. Placement packs like `best_fit`, GPU types in config order.
//!
//! Admission of preemptible work is fair-share ordered: a tenant at its quota keeps using the
//! nodes that carry its image but takes no other node for batch while a tenant below its quota
//! has work waiting.
//!
//! Optimizes: guarantees kept without stranding idle quota. Ignores: GPU speed and switch
//! cost.

use super::best_fit::{fullest_domain, packed};
use super::common::{
    Room, config_order, fill_from, nodes_for, place_by_types, shaped_candidates, victims_for,
};
use super::{Decision, Placement, Policy, View};
use crate::fleet::{Cluster, NodeId, TypeId};
use crate::state::alloc::AllocId;
use crate::state::request::Request;
use crate::state::{VictimSet, preemption_allowed, within_quota};
use crate::workload::TenantId;

pub struct FairShare;

/// Reclaim only while the tenant occupies at most this share of its quota (and the request
/// fits within the quota).
/// Without such hysteresis, tenants sitting at their quotas reclaim from each other every time
/// one of them finishes a job, and each hop re-provisions a node.
pub const RECLAIM_BELOW: f64 = 0.9;

/// A node that could be freed: (victim GPUs, victims, node), ordered cheapest first.
type Candidate = (u32, usize, NodeId);

/// The cost of freeing node `n` for `req`: (victim GPUs, victims), if every holder may be
/// evicted. Victims are whole allocations, so a gang spanning many nodes costs all its GPUs.
fn reclaim_cost(view: &View, req: &Request, n: NodeId) -> Option<(u32, usize)> {
    let node = &view.cluster.nodes[n as usize];
    if node.down || node.locked > 0 || node.used == 0 {
        return None;
    }
    let mut gpus = 0;
    for &id in &node.allocs {
        let a = view.allocs.get(id)?;
        if !preemption_allowed(view.scenario, view.cluster, req, a, view.now) {
            return None;
        }
        gpus += a.gpus.len() as u32;
    }
    Some((gpus, node.allocs.len()))
}

/// Adds the victims on node `n` to `picked` if the grown set is still allowed (each of them
/// already passed [`preemption_allowed`] in [`reclaim_cost`]; nothing changes while a policy
/// decides).
fn try_add(view: &View, req: &Request, picked: &mut VictimSet, n: NodeId) -> bool {
    let victims: Option<Vec<(AllocId, &crate::state::alloc::Alloc)>> =
        (view.cluster.nodes[n as usize].allocs.iter())
            .map(|&id| view.allocs.get(id).map(|a| (id, a)))
            .collect();
    victims.is_some_and(|v| picked.add(view.scenario, view.cluster, req, &v))
}

/// Minimal reclaim on type `t`: the cheapest nodes (or, for a wide gang, the cheapest domain)
/// whose eviction makes room for `g` GPUs, taking from each tenant only what it borrowed.
fn reclaim(view: &View, req: &Request, t: TypeId, g: u32) -> Option<Vec<AllocId>> {
    let c = view.cluster;
    let candidates = |nodes: &mut dyn Iterator<Item = NodeId>| -> Vec<Candidate> {
        let mut v: Vec<Candidate> = nodes
            .filter_map(|n| reclaim_cost(view, req, n).map(|(gp, k)| (gp, k, n)))
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
    let mut picked = VictimSet::new(view.scenario.tenants.len());
    // Only nodes whose every holder could pass `preemption_allowed` are candidates: all the
    // nodes of a tenant the request may reclaim from (another tenant above its reservation,
    // the requester within its own), and nodes of only preemptible work if the request is not
    // preemptible. The cost index yields each tenant's nodes cheapest first; merged, they come
    // in the order of ranking every node of the type, without visiting the others.
    let sc = view.scenario;
    let reclaims = within_quota(sc, c, req);
    let mut sources: Vec<_> = (0..sc.tenants.len())
        .filter_map(|u| {
            let borrowing = u != req.tenant
                && reclaims
                && view.occupied[u] > sc.tenants[u].reserved_total() as u64;
            (borrowing || !req.preemptible)
                .then(|| c.nodes_by_eviction_cost(t, u, !borrowing).peekable())
        })
        .collect();
    let next = |sources: &mut Vec<std::iter::Peekable<_>>| {
        let i = (0..sources.len())
            .filter_map(|i| sources[i].peek().map(|k| (*k, i)))
            .min()?
            .1;
        sources[i].next()
    };
    while let Some((gp, k, n)) = next(&mut sources) {
        match reclaim_cost(view, req, n) {
            None => continue,
            Some(cost) => debug_assert_eq!(cost, (gp, k as usize), "cost index of node {n}"),
        }
        if !try_add(view, req, &mut picked, n) {
            continue;
        }
        room.empty(&c.nodes[n as usize]);
        if room.enough() {
            return Some(picked.ids.into_iter().collect());
        }
    }
    None
}

impl Policy for FairShare {
    fn name(&self) -> &'static str {
        "fair_share"
    }

    fn wants_eviction_cost_index(&self) -> bool {
        true
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let c = view.cluster;
        let sc = view.scenario;
        // Fair-share admission for opportunistic (preemptible) work: a tenant already at its
        // quota keeps using nodes that carry its image, but does not take another node while a
        // tenant below its quota has work waiting; that tenant gets the node first, and nobody
        // has to reclaim it back.
        let quota = |t: usize| sc.tenants[t].reserved_total() as f64;
        let at_quota = view.occupied[req.tenant] as f64 >= quota(req.tenant);
        let others_waiting = (0..sc.tenants.len()).any(|u| {
            u != req.tenant
                && view.queued[u] > 0
                && quota(u) > 0.0
                && (view.occupied[u] as f64) < RECLAIM_BELOW * quota(u)
        });
        let order = config_order(view);
        if at_quota && others_waiting {
            let own = |c: &Cluster, t: TypeId, tenant: TenantId, g: u32| {
                let nodes = shaped_candidates(c, t, tenant, g, c.idle_nodes_of(t, Some(tenant)));
                fill_from(c, t, nodes, tenant, g).map(|nodes| Placement { gpu_type: t, nodes })
            };
            let narrow_only = |_: &Cluster, _: TypeId, _: u32| None;
            return place_by_types(view, req, order, narrow_only, own)
                .map_or(Decision::Wait, Decision::Place);
        }
        if let Some(p) = place_by_types(view, req, order, fullest_domain, packed) {
            return Decision::Place(p);
        }
        // A tenant clearly below its quota reclaims borrowed GPUs; any tenant may evict its own
        // preemptible work; nobody evicts another tenant's work otherwise, or quotas would flap
        // (Kueue's rule: only work within nominal quota reclaims).
        let under_quota = within_quota(sc, c, req)
            && view.occupied[req.tenant] as f64 <= RECLAIM_BELOW * quota(req.tenant);
        for &t in order {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if under_quota && let Some(v) = reclaim(view, req, t, g) {
                return Decision::Preempt(v);
            }
            let own = c.idle_count_of(t, Some(req.tenant));
            if let Some(v) = victims_for(view, req, t, g, own, Some(req.tenant), |_| true) {
                return Decision::Preempt(v);
            }
        }
        Decision::Wait
    }
}
