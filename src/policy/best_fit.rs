//! `best_fit`: one shared pool, packed to keep whole nodes and whole NVL72 racks free for
//! large gangs (fragmentation-aware, in the spirit of Alibaba's fragmentation scoring).
//! Small requests go to the partly used node of their tenant with the fewest free GPUs that
//! still fit, else to an idle node in the NVLink domain with the fewest idle nodes; wide
//! gangs take the fullest domain that still has room.
//!
//! Optimizes: the chance that a large or wide gang finds room. Ignores: GPU speed (types are
//! tried in config order) and switch cost.

use super::common::{
    config_order, evict_by_types, fill_from, nodes_for, place_by_types, shaped_candidates,
    take_idle_in_domain,
};
use super::{Decision, NodeList, Placement, Policy, View};
use crate::fleet::cluster::NodeClass;
use crate::fleet::{Cluster, TypeId};
use crate::state::request::Request;
use crate::workload::TenantId;

pub struct BestFit;

/// `g` GPUs of type `t` packed: whole idle nodes from the fullest domains first, the rest on
/// the tightest partial node of the tenant.
pub fn packed(c: &Cluster, t: TypeId, tenant: TenantId, g: u32) -> Option<Placement> {
    let ng = c.types[t].node_gpus;
    let mut nodes = NodeList::new();
    let mut left = g;
    if left < ng
        && let Some(n) = c.tightest_partial(t, tenant, left)
    {
        return Some(Placement {
            gpu_type: t,
            nodes: smallvec::smallvec![(n, left)],
        });
    }
    'domains: for d in c.domains_with_idle_at_least(t, 1) {
        for n in c.domain_nodes(d) {
            if c.nodes[n as usize].class() != NodeClass::Idle {
                continue;
            }
            if left < ng
                && let Some(p) = c.tightest_partial(t, tenant, left)
            {
                nodes.push((p, left));
                left = 0;
                break 'domains;
            }
            let take = ng.min(left);
            nodes.push((n, take));
            left -= take;
            if left == 0 {
                break 'domains;
            }
        }
    }
    if left == 0 {
        return Some(Placement { gpu_type: t, nodes });
    }
    // Not enough whole nodes in the domains' walk: fall back to any usable nodes.
    let all = shaped_candidates(c, t, tenant, g, c.idle_nodes(t));
    fill_from(c, t, all, tenant, g).map(|nodes| Placement { gpu_type: t, nodes })
}

/// The fullest NVLink domain of type `t` with room for `g` GPUs on idle nodes.
pub fn fullest_domain(c: &Cluster, t: TypeId, g: u32) -> Option<Placement> {
    let need = nodes_for(g, c.types[t].node_gpus);
    let d = c.domains_with_idle_at_least(t, need).next()?;
    take_idle_in_domain(c, t, d, g, |_| true)
}

impl Policy for BestFit {
    fn name(&self) -> &'static str {
        "best_fit"
    }

    fn place(&mut self, view: &View, req: &Request) -> Decision {
        let order = config_order(view);
        if let Some(p) = place_by_types(view, req, order, fullest_domain, packed) {
            return Decision::Place(p);
        }
        evict_by_types(view, req, order)
            .or_else(|| super::reclaim::for_guarantee(view, req, order))
            .map_or(Decision::Wait, Decision::Preempt)
    }
}
