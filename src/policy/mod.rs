//! Placement policies: plug-ins behind one trait. A policy sees a read-only [`View`] of the
//! fleet and answers for one queued request at a time; the engine validates and applies.

pub mod common;
pub mod dedicated;
pub mod first_fit;

use crate::config::Scenario;
use crate::fleet::{Cluster, NodeId, TypeId};
use crate::sim::alloc::{AllocId, Allocs};
use crate::sim::request::Request;
use crate::units::Time;
use crate::workload::TenantId;

/// What a policy may look at: the scenario, the cluster with its indexes, the allocations.
pub struct View<'a> {
    pub now: Time,
    pub scenario: &'a Scenario,
    pub cluster: &'a Cluster,
    pub allocs: &'a Allocs,
}

/// GPUs chosen for a request: one GPU type, and how many GPUs on each node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub gpu_type: TypeId,
    pub nodes: Vec<(NodeId, u32)>,
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

    /// Decides for one request, taken from the queue in priority order.
    fn place(&mut self, view: &View, req: &Request) -> Decision;
}

/// Every policy this build knows, by name.
pub const POLICIES: &[&str] = &["first_fit", "dedicated"];

/// Builds a policy by name.
pub fn by_name(name: &str) -> Result<Box<dyn Policy>, String> {
    match name {
        "first_fit" => Ok(Box::new(first_fit::FirstFit)),
        "dedicated" => Ok(Box::new(dedicated::Dedicated)),
        other => Err(format!(
            "unknown policy `{other}` (known: {})",
            POLICIES.join(", ")
        )),
    }
}
