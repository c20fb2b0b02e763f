//! `first_fit`: one shared pool. Each request takes the first GPUs that fit, scanning GPU
//! types in config order and nodes in fleet order.
//!
//! Optimizes: nothing beyond getting work started; it is the naive pooled baseline.
//! Ignores: GPU speed (a type is chosen by order, not by throughput), switch cost (a node of
//! another tenant is taken as readily as one of the same tenant), fragmentation. It does
//! preempt preemptible work when guaranteed work cannot otherwise start, since without that a
//! pooled fleet full of batch could never serve its guaranteed tenants.

use super::common::{fill_from, first_domain, merge_ascending, victims_for};
use super::{Decision, Placement, Policy, View};
use crate::sim::request::Request;

pub struct FirstFit;

impl Policy for FirstFit {
    fn name(&self) -> &'static str {
        "first_fit"
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
                first_domain(c, t, g)
            } else {
                let nodes = merge_ascending(c.partial_nodes_of(t, req.tenant), c.idle_nodes(t));
                fill_from(c, nodes, req.tenant, g).map(|nodes| Placement { gpu_type: t, nodes })
            };
            if let Some(p) = placed {
                return Decision::Place(p);
            }
        }
        for t in 0..sc.gpu_types.len() {
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
