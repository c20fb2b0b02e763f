//! `fair_share`: guaranteed quotas with lending, the quota/cohort model of Kubernetes batch
//! schedulers (Kueue, Volcano, KAI). Each tenant's reservation is its guaranteed quota (in
//! GPUs, any type). Idle GPUs are lent to whoever asks; when a tenant below its quota cannot
//! place work, it reclaims borrowed GPUs by preempting the allocations of tenants above their
//! quota, as long as the request fits within its quota, taking from each tenant only what it
//! holds beyond its own (so tenants at their quotas never reclaim from each other in turn).
//! Quotas count the GPUs of the nodes a tenant occupies. A tenant over its quota evicts nobody
//! else's work, only its own preemptible work; otherwise quotas flap back and forth (the Kueue
//! rule: only work within nominal quota reclaims).
//!
//! Preemption is deterministic and minimal: it evicts whole nodes, choosing the nodes whose
//! victims hold the fewest GPUs (then the fewest victims, then fleet order), and only as many
//! as the request needs. Placement packs like `best_fit`, GPU types in config order.
//!
//! Admission of preemptible work is fair-share ordered: a tenant at its quota keeps using the
//! nodes that carry its image but takes no other node for batch while a tenant below
//! `RECLAIM_BELOW` (90 %) of its quota has work waiting.
//!
//! Optimizes: guarantees kept without stranding idle quota. Ignores: GPU speed and switch
//! cost.

use super::best_fit::{fullest_domain, packed};
use super::common::{config_order, fill_from, place_by_types, shaped_candidates, victims_for};
use super::reclaim::reclaim;
use super::{Decision, Placement, Policy, View};
use crate::fleet::{Cluster, TypeId};
use crate::state::request::Request;
use crate::state::within_quota;
use crate::workload::TenantId;

pub struct FairShare;

/// A tenant at its quota takes no new node for preemptible work while another tenant below
/// this share of its quota has work waiting.
pub const RECLAIM_BELOW: f64 = 0.9;

impl Policy for FairShare {
    fn name(&self) -> &'static str {
        "fair_share"
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
        let under_quota = within_quota(sc, c, req);
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
