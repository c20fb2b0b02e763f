//! `fair_share`: guaranteed quotas with lending, the quota/cohort model of Kubernetes batch
//! schedulers (Kueue, Volcano, KAI). Each tenant's reservation is its guaranteed quota (in
//! GPUs, any type). Idle GPUs are lent to whoever asks; when a tenant below its quota cannot
//! place work, it reclaims borrowed GPUs by preempting the allocations of tenants above their
//! quota. Preemptible work also yields to non-preemptible work, as everywhere.
//!
//! Preemption is deterministic and minimal: it evicts whole nodes, choosing the nodes with
//! the fewest victims (then the fewest victim GPUs, then fleet order), and only as many as
//! the request needs. Placement packs like `best_fit`, GPU types in config order.
//!
//! Optimizes: guarantees kept without stranding idle quota. Ignores: GPU speed and switch
//! cost.

use super::best_fit::{fullest_domain, packed};
use super::common::{nodes_for, victims_for};
use super::{Decision, Policy, View};
use crate::fleet::cluster::NodeClass;
use crate::fleet::{NodeId, TypeId};
use crate::sim::alloc::AllocId;
use crate::sim::preemption_allowed;
use crate::sim::request::Request;

pub struct FairShare;

/// A node that could be freed: (victims, victim GPUs, node), ordered cheapest first.
type Candidate = (usize, u32, NodeId);

/// The cost of freeing node `n` for `req`: (victims, victim GPUs), if every holder may be
/// evicted.
fn reclaim_cost(view: &View, req: &Request, n: NodeId) -> Option<(usize, u32)> {
    let node = &view.cluster.nodes[n as usize];
    if node.down || node.locked > 0 || node.used == 0 {
        return None;
    }
    let mut gpus = 0;
    for &id in &node.allocs {
        let a = view.allocs.get(id)?;
        if !preemption_allowed(view.scenario, view.usage, req, a) {
            return None;
        }
        gpus += a.gpus.len() as u32;
    }
    Some((node.allocs.len(), gpus))
}

/// Minimal reclaim on type `t`: the cheapest nodes (or, for a wide gang, the cheapest domain)
/// whose eviction makes room for `g` GPUs.
fn reclaim(view: &View, req: &Request, t: TypeId, g: u32) -> Option<Vec<AllocId>> {
    let c = view.cluster;
    let victims_of = |nodes: &[Candidate]| -> Vec<AllocId> {
        let mut v: Vec<AllocId> = nodes
            .iter()
            .flat_map(|&(_, _, n)| c.nodes[n as usize].allocs.clone())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if req.needs_one_domain(view.scenario, t) {
        let need = nodes_for(g, c.types[t].node_gpus) as usize;
        let mut best: Option<(usize, Vec<Candidate>)> = None;
        for &d in c.domains_of(t) {
            let idle = c
                .domain_nodes(d)
                .filter(|&n| c.nodes[n as usize].class() == NodeClass::Idle)
                .count();
            if idle >= need {
                continue; // placement would have found it
            }
            let mut costs: Vec<Candidate> = c
                .domain_nodes(d)
                .filter_map(|n| reclaim_cost(view, req, n).map(|(k, gp)| (k, gp, n)))
                .collect();
            if idle + costs.len() < need {
                continue;
            }
            costs.sort_unstable();
            costs.truncate(need - idle);
            let total: usize = costs.iter().map(|x| x.0).sum();
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, costs));
            }
        }
        return best.map(|(_, nodes)| victims_of(&nodes));
    }
    let have = c.available(t, req.tenant);
    let mut costs: Vec<Candidate> = (0..c.nodes.len() as NodeId)
        .filter(|&n| c.nodes[n as usize].gpu_type == t)
        .filter_map(|n| reclaim_cost(view, req, n).map(|(k, gp)| (k, gp, n)))
        .collect();
    costs.sort_unstable();
    let mut gained = 0u64;
    for (i, &(_, _, n)) in costs.iter().enumerate() {
        let node = &c.nodes[n as usize];
        gained += if node.tenant == Some(req.tenant) {
            node.used as u64
        } else {
            node.gpus as u64
        };
        if have + gained >= g as u64 {
            return Some(victims_of(&costs[..=i]));
        }
    }
    None
}

impl Policy for FairShare {
    fn name(&self) -> &'static str {
        "fair_share"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let c = view.cluster;
        let sc = view.scenario;
        for t in 0..sc.gpu_types.len() {
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
        let under_quota = view.usage[req.tenant] < sc.tenants[req.tenant].reserved_total() as u64;
        for t in 0..sc.gpu_types.len() {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if under_quota {
                if let Some(v) = reclaim(view, req, t, g) {
                    return Decision::Preempt(v);
                }
            } else if let Some(v) =
                victims_for(view, req, t, g, c.available(t, req.tenant), |_| true)
            {
                return Decision::Preempt(v);
            }
        }
        Decision::Wait
    }
}
