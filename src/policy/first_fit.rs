//! `first_fit`: one shared pool. Each request takes the first GPUs that fit, scanning GPU
//! types in config order and nodes in fleet order.
//!
//! Optimizes: nothing beyond getting work started; it is the naive pooled baseline.
//! Ignores: GPU speed (a type is chosen by order, not by throughput), switch cost (a node of
//! another tenant is taken as readily as one of the same tenant), fragmentation. It does
//! preempt preemptible work when guaranteed work cannot otherwise start, and reclaims borrowed
//! GPUs for a tenant within its reservation, since without that a pooled fleet full of batch
//! could never serve its guaranteed tenants.

use super::common::{
    config_order, evict_by_types, fill_from, first_domain, place_by_types, shaped_candidates,
};
use super::{Decision, Placement, Policy, View};
use crate::fleet::{Cluster, TypeId};
use crate::state::request::Request;
use crate::workload::TenantId;

pub struct FirstFit;

impl Policy for FirstFit {
    fn name(&self) -> &'static str {
        "first_fit"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let order = config_order(view);
        let first = |c: &Cluster, t: TypeId, tenant: TenantId, g: u32| {
            let nodes = shaped_candidates(c, t, tenant, g, c.idle_nodes(t));
            fill_from(c, t, nodes, tenant, g).map(|nodes| Placement { gpu_type: t, nodes })
        };
        if let Some(p) = place_by_types(view, req, order, first_domain, first) {
            return Decision::Place(p);
        }
        evict_by_types(view, req, order)
            .or_else(|| super::reclaim::for_guarantee(view, req, order))
            .map_or(Decision::Wait, Decision::Preempt)
    }
}
