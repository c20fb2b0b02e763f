//! Placement policies: plug-ins behind one trait. A policy sees a read-only [`View`] of the
//! fleet and answers for one queued request at a time; the engine validates and applies.
//! Every policy must keep reservations: a request of a tenant within its reservation is
//! offered even when nothing fits, and the policy answers with the borrowed GPUs to reclaim
//! ([`crate::state::preemption_allowed`]); the report measures what it fails to deliver.

pub mod best_fit;
pub mod common;
pub mod dedicated;
pub mod drain;
pub mod fair_share;
pub mod first_fit;
pub mod heterogeneity_aware;
pub mod migrate;
pub mod rank;
pub mod reclaim;
pub mod switch_aware;

use crate::fleet::TypeId;
use crate::state::alloc::AllocId;
pub use crate::state::alloc::NodeList;
use crate::state::request::Request;
pub use crate::state::view::View;
use crate::workload::TenantId;

/// GPUs chosen for a request: one GPU type, and how many GPUs on each node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub gpu_type: TypeId,
    pub nodes: NodeList,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Leave the request queued.
    Wait,
    Place(Placement),
    /// Preempt these allocations; the engine then asks again for the same request.
    Preempt(Vec<AllocId>),
}

pub trait Policy: Send {
    fn name(&self) -> &'static str;

    /// Tenant image each node carries at time 0 (a static partition), if the policy has one.
    fn initial_tenants(&mut self, _view: &View) -> Option<Vec<Option<TenantId>>> {
        None
    }

    /// Whether this policy reads [`crate::fleet::Cluster::nodes_by_eviction_cost`]: that index
    /// costs every node change an ordered-set update, so the cluster keeps it only on demand.
    /// Every policy that lends GPUs reclaims through it ([`reclaim`]); one that never lends
    /// (a static partition) need not keep it.
    fn wants_eviction_cost_index(&self) -> bool {
        true
    }

    /// Decides for one request, taken from the queue in priority order.
    fn place(&mut self, view: &View, req: &Request) -> Decision;

    /// Running training jobs (by allocation) this policy would move to a faster GPU type,
    /// asked at each autoscaling tick when `simulation.migration` is on. The engine moves
    /// each at the job's next checkpoint, and only if [`Policy::place`], asked then for the
    /// job, offers a type faster than the one it runs on; the move pays the new
    /// allocation's restart (a workflow switch) and any tenant switch. None by default.
    fn migrations(&mut self, _view: &View) -> Vec<crate::state::alloc::AllocId> {
        Vec::new()
    }
}

/// Every policy this build knows, by name.
pub const POLICIES: &[&str] = &[
    "dedicated",
    "first_fit",
    "best_fit",
    "heterogeneity_aware",
    "switch_aware",
    "fair_share",
];

/// Builds a policy by name.
pub fn by_name(name: &str) -> Result<Box<dyn Policy>, String> {
    match name {
        "first_fit" => Ok(Box::new(first_fit::FirstFit)),
        "dedicated" => Ok(Box::new(dedicated::Dedicated)),
        "best_fit" => Ok(Box::new(best_fit::BestFit)),
        "heterogeneity_aware" => Ok(Box::new(heterogeneity_aware::HeterogeneityAware::default())),
        "switch_aware" => Ok(Box::new(switch_aware::SwitchAware::default())),
        "fair_share" => Ok(Box::new(fair_share::FairShare)),
        other => Err(format!(
            "unknown policy `{other}` (known: {})",
            POLICIES.join(", ")
        )),
    }
}
