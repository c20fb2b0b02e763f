//! `switch_aware`: the fungible fleet. Pooled and heterogeneity-aware (GPU types in order of
//! comparative advantage, packed within a type), and careful with switches:
//! - it prefers nodes that already carry the tenant's image (its partly used nodes, then its
//!   idle ones, then never-used ones), and among those, nodes whose GPUs still hold the
//!   workflow, so most placements pay no tenant switch and many no model load;
//! - it re-provisions another tenant's node only when the expected run is at least
//!   `MIN_RUN_OVER_SWITCH` times the tenant-switch time, or the request has already waited
//!   that switch time (waiting longer would cost more than switching), or its tenant is within
//!   its reservation;
//! - preemptible batch backfills idle GPUs (as in every pooled policy), and guaranteed work
//!   evicts it, from the tenant's own nodes first, so the eviction needs no re-provisioning;
//!   a tenant within its reservation reclaims borrowed GPUs as in every pooled policy.
//!
//! Optimizes: utilization and tokens per GPU-hour net of switch time. Ignores: fairness
//! between tenants beyond priorities.

use super::best_fit::packed;
use super::common::{
    Shape, fill_from, merge_ascending, nodes_for, take_idle_in_domain, victims_for,
};
use super::rank::comparative_advantage;
use super::{Decision, NodeList, Placement, Policy, View};
use crate::fleet::cluster::NodeClass;
use crate::fleet::{NodeId, TypeId};
use crate::state::request::Request;
use crate::state::within_quota;
use crate::units::secs;

/// Re-provision another tenant's node only for runs at least this many times the switch.
pub const MIN_RUN_OVER_SWITCH: f64 = 4.0;
/// Nodes inspected when looking for one that still holds the workflow.
const WORKFLOW_SCAN: usize = 256;

#[derive(Default)]
pub struct SwitchAware {
    ranks: Option<Vec<Vec<TypeId>>>,
}

fn holds(view: &View, n: NodeId, wf: u32) -> bool {
    let node = &view.cluster.nodes[n as usize];
    (node.first_gpu..node.first_gpu + node.gpus).any(|g| view.gpu_workflow(g) == wf)
}

/// Whether re-provisioning a node of type `t` for `req` pays for itself. It always does for a
/// tenant within its reservation: a guarantee does not wait on switch economics.
fn worth_switching(view: &View, req: &Request, t: TypeId) -> bool {
    let switch = secs(view.scenario.gpu_types[t].tenant_switch);
    if switch == 0.0 || within_quota(view.scenario, view.cluster, req) {
        return true;
    }
    let waited = secs(view.now.saturating_sub(req.arrival));
    match req.expected_run_s(view.scenario, t) {
        None => true,
        Some(run) => run >= MIN_RUN_OVER_SWITCH * switch || waited >= switch,
    }
}

/// GPUs for `req` on nodes that need no tenant switch, workflow holders first.
fn without_switch(view: &View, req: &Request, wf: u32, t: TypeId, g: u32) -> Option<Placement> {
    let c = view.cluster;
    let me = req.tenant;
    let ng = c.types[t].node_gpus;
    let need = Shape::of(g, ng).partial_need(ng);
    let own = || {
        merge_ascending(
            c.partial_nodes_with(t, me, need),
            c.idle_nodes_of(t, Some(me)),
        )
    };
    let holders: Vec<NodeId> = own()
        .take(WORKFLOW_SCAN)
        .filter(|&n| holds(view, n, wf))
        .collect();
    let order = holders
        .iter()
        .copied()
        .chain(own().filter(|n| !holders.contains(n)))
        .chain(c.idle_nodes_of(t, None));
    fill_from(c, t, order, me, g).map(|nodes| Placement { gpu_type: t, nodes })
}

/// A wide gang in the domain with the most idle nodes that need no tenant switch.
fn wide(view: &View, req: &Request, t: TypeId, g: u32) -> Option<Placement> {
    let c = view.cluster;
    let need = nodes_for(g, c.types[t].node_gpus);
    let no_switch = |n: NodeId| {
        let node = &c.nodes[n as usize];
        node.class() == NodeClass::Idle
            && (node.tenant.is_none() || node.tenant == Some(req.tenant))
    };
    let best = c
        .domains_with_idle_at_least(t, need)
        .map(|d| {
            (
                c.domain_nodes(d).filter(|&n| no_switch(n)).count() as u32,
                d,
            )
        })
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
    if best.0 < need && !worth_switching(view, req, t) {
        return None;
    }
    // Own and fresh nodes first, then others.
    let mut p = take_idle_in_domain(c, t, best.1, g.min(best.0 * c.types[t].node_gpus), |node| {
        node.tenant.is_none() || node.tenant == Some(req.tenant)
    })
    .unwrap_or(Placement {
        gpu_type: t,
        nodes: NodeList::new(),
    });
    let have: u32 = p.nodes.iter().map(|x| x.1).sum();
    if have < g {
        let rest = take_idle_in_domain(c, t, best.1, g - have, |node| {
            node.tenant.is_some() && node.tenant != Some(req.tenant)
        })?;
        p.nodes.extend(rest.nodes);
    }
    Some(p)
}

impl Policy for SwitchAware {
    fn name(&self) -> &'static str {
        "switch_aware"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let c = view.cluster;
        let sc = view.scenario;
        let ranks = self.ranks.get_or_insert_with(|| comparative_advantage(sc));
        let wf = req.workflow(sc);
        for &t in &ranks[req.workload] {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if c.available(t, req.tenant) < g as u64 {
                continue;
            }
            let placed = if req.needs_one_domain(sc, t) {
                wide(view, req, t, g)
            } else if c.available_own(t, req.tenant)
                + c.idle_count_of(t, None) * c.types[t].node_gpus as u64
                >= g as u64
            {
                without_switch(view, req, wf, t, g)
            } else if worth_switching(view, req, t) {
                packed(c, t, req.tenant, g)
            } else {
                None
            };
            if let Some(p) = placed {
                return Decision::Place(p);
            }
        }
        // Evict from the tenant's own nodes first (no re-provisioning afterwards); from other
        // tenants' nodes only where switching would be worth it, as for placement.
        for &t in &ranks[req.workload] {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            let no_switch = c.idle_count_of(t, Some(req.tenant)) + c.idle_count_of(t, None);
            if let Some(v) = victims_for(view, req, t, g, no_switch, Some(req.tenant), |_| true) {
                return Decision::Preempt(v);
            }
            if worth_switching(view, req, t)
                && let Some(v) = victims_for(view, req, t, g, c.idle_node_count(t), None, |_| true)
            {
                return Decision::Preempt(v);
            }
        }
        super::reclaim::for_guarantee(view, req, &ranks[req.workload])
            .map_or(Decision::Wait, Decision::Preempt)
    }
}
