//! The read-only view of the fleet a policy decides on (and the audit checks): the scenario,
//! the cluster with its indexes, the allocations, and per-tenant occupancy and queue counts.

use crate::config::Scenario;
use crate::fleet::Cluster;
use crate::fleet::cluster::GpuId;
use crate::units::Time;

use super::alloc::Allocs;
use super::request::Request;

/// What a policy may look at: the scenario, the cluster with its indexes, the allocations.
pub struct View<'a> {
    pub now: Time,
    pub scenario: &'a Scenario,
    pub cluster: &'a Cluster,
    pub allocs: &'a Allocs,
    /// GPUs of the nodes each tenant occupies, by tenant (see `Cluster::occupied`).
    pub occupied: &'a [u64],
    /// Requests waiting in the queue, by tenant.
    pub queued: &'a [u64],
    /// Training gangs wider than one node that could not be placed (nothing fits them now), in
    /// queue order, at most a few: what waits now. During a placement pass, those ahead of
    /// the request being decided in this pass; outside one (migrations), those of the last.
    pub waiting: &'a [Request],
}

impl View<'_> {
    /// The workflow GPU `g` holds now: what it last loaded, or, under a job whose model load
    /// has ended, that job's (the engine writes it to the GPU when the job is released; see
    /// `Alloc::loading`).
    pub fn gpu_workflow(&self, g: GpuId) -> u32 {
        match self.allocs.get(self.cluster.gpu[g as usize].alloc) {
            Some(a) if a.loaded_by(self.now) => a.workflow,
            _ => self.cluster.gpu[g as usize].workflow,
        }
    }
}
