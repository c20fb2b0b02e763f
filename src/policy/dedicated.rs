//! `dedicated`: the siloed fleet. Every node is statically assigned to one tenant at time 0,
//! in proportion to the tenants' reservations (per GPU type where given, `any` spread over
//! the types), scaled up so the whole fleet is partitioned (equal shares if nobody reserved
//! anything); whole NVLink domains go to one tenant where the quota allows. A tenant's work runs only on its own nodes, first fit.
//!
//! Optimizes: isolation and predictability. No GPU ever changes tenant, so no tenant switch
//! is ever paid. Ignores: demand. Idle GPUs in one partition are never lent to a tenant
//! queued in another, and a tenant without a reservation gets no GPUs at all.

use super::common::{fill_from, nodes_for, shaped_candidates, take_idle_in_domain, victims_for};
use super::{Decision, Placement, Policy, View};
use crate::fleet::TypeId;
use crate::state::request::Request;
use crate::workload::TenantId;

#[derive(Default)]
pub struct Dedicated;

/// Splits `units` in proportion to `weights` by largest remainder (ties to the lower index).
pub fn apportion(units: u64, weights: &[f64]) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| units as f64 * w / total).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = units - out.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.partial_cmp(&ra)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        if weights[i] > 0.0 {
            out[i] += 1;
            left -= 1;
        }
    }
    out
}

impl Dedicated {
    /// GPUs of each type each tenant is entitled to: [type][tenant].
    fn weights(view: &View) -> Vec<Vec<f64>> {
        let sc = view.scenario;
        let types = sc.gpu_types.len();
        let cap: Vec<f64> = (0..types).map(|t| sc.type_gpus(t) as f64).collect();
        let typed: Vec<f64> = (0..types)
            .map(|t| sc.tenants.iter().map(|x| x.reserved[t] as f64).sum())
            .collect();
        let spare: Vec<f64> = (0..types).map(|t| (cap[t] - typed[t]).max(0.0)).collect();
        let spare_total: f64 = spare.iter().sum();
        (0..types)
            .map(|t| {
                let w: Vec<f64> = sc
                    .tenants
                    .iter()
                    .map(|x| {
                        let any = if spare_total > 0.0 {
                            x.reserved_any as f64 * spare[t] / spare_total
                        } else {
                            0.0
                        };
                        x.reserved[t] as f64 + any
                    })
                    .collect();
                if w.iter().sum::<f64>() > 0.0 {
                    w
                } else if sc.tenants.iter().any(|x| x.reserved_total() > 0) {
                    // Nobody reserved this type: split it like the fleet as a whole.
                    sc.tenants
                        .iter()
                        .map(|x| x.reserved_total() as f64)
                        .collect()
                } else {
                    // Nobody reserved anything: equal shares.
                    vec![1.0; sc.tenants.len()]
                }
            })
            .collect()
    }
}

impl Policy for Dedicated {
    fn name(&self) -> &'static str {
        "dedicated"
    }

    /// It never lends a GPU, so it never reclaims one.
    fn wants_eviction_cost_index(&self) -> bool {
        false
    }

    fn initial_tenants(&mut self, view: &View) -> Option<Vec<Option<TenantId>>> {
        let c = view.cluster;
        let mut owner = vec![None; c.nodes.len()];
        for (t, w) in Self::weights(view).iter().enumerate() {
            let nodes: Vec<u32> = (0..c.nodes.len() as u32)
                .filter(|&n| c.nodes[n as usize].gpu_type == t)
                .collect();
            let quota = apportion(nodes.len() as u64, w);
            // Contiguous ranges, so quotas of whole racks get whole racks.
            let mut i = 0usize;
            for (tenant, q) in quota.iter().enumerate() {
                for _ in 0..*q {
                    owner[nodes[i] as usize] = Some(tenant);
                    i += 1;
                }
            }
        }
        Some(owner)
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let c = view.cluster;
        let sc = view.scenario;
        let me = Some(req.tenant);
        for t in 0..sc.gpu_types.len() as TypeId {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            if c.available_own(t, req.tenant) < g as u64 {
                continue;
            }
            let placed = if req.needs_one_domain(sc, t) {
                let need = nodes_for(g, c.types[t].node_gpus);
                let mut found = None;
                let mut last_domain = u32::MAX;
                let mut count = 0;
                for n in c.idle_nodes_of(t, me) {
                    let d = c.nodes[n as usize].domain;
                    count = if d == last_domain { count + 1 } else { 1 };
                    last_domain = d;
                    if count == need {
                        found = take_idle_in_domain(c, t, d, g, |node| node.tenant == me);
                        break;
                    }
                }
                found
            } else {
                let nodes = shaped_candidates(c, t, req.tenant, g, c.idle_nodes_of(t, me));
                fill_from(c, t, nodes, req.tenant, g).map(|nodes| Placement { gpu_type: t, nodes })
            };
            if let Some(p) = placed {
                return Decision::Place(p);
            }
        }
        for t in 0..sc.gpu_types.len() {
            let Some(g) = req.gpus_on(sc, t) else {
                continue;
            };
            let idle = c.idle_count_of(t, me);
            if let Some(v) = victims_for(view, req, t, g, idle, Some(req.tenant), |_| true) {
                return Decision::Preempt(v);
            }
        }
        Decision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn apportion_is_exact_and_proportional() {
        assert_eq!(apportion(10, &[1.0, 1.0, 2.0]), vec![3, 2, 5]);
        assert_eq!(apportion(7, &[0.0, 1.0]), vec![0, 7]);
        assert_eq!(apportion(5, &[0.0, 0.0]), vec![0, 0]);
        assert_eq!(apportion(3, &[1.0, 1.0, 1.0]).iter().sum::<u64>(), 3);
    }
}
