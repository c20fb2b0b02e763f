//! What waits in the queue: a training or batch job, or one inference replica, with the shape
//! it needs on each GPU type.

use crate::config::Scenario;
use crate::fleet::TypeId;
use crate::units::Time;
use crate::workload::{Kind, Spec, TenantId, WorkloadId};

pub type JobId = u32;
pub type ServiceId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Job(JobId),
    Replica(ServiceId),
}

/// A unit of work waiting for GPUs.
#[derive(Clone, Debug)]
pub struct Request {
    pub target: Target,
    pub kind: Kind,
    pub workload: WorkloadId,
    pub tenant: TenantId,
    pub priority: i32,
    pub preemptible: bool,
    /// When the work arrived (kept across preemptions, so requeued work keeps its place).
    pub arrival: Time,
    /// Gang size of a training job; 0 for replica-shaped work (inference, batch).
    pub gang: u32,
}

impl Request {
    /// GPUs this request needs on type `t`, or `None` if it cannot run there.
    pub fn gpus_on(&self, sc: &Scenario, t: TypeId) -> Option<u32> {
        let w = &sc.workloads[self.workload];
        w.rate(t)?;
        let ty = &sc.gpu_types[t];
        match &w.spec {
            Spec::Training(s) => {
                let fits = if s.wide_nvlink {
                    self.gang <= ty.nvlink_domain_gpus
                } else {
                    self.gang <= sc.type_gpus(t)
                };
                fits.then_some(self.gang)
            }
            _ => w.replica_gpus.get(t).copied().flatten(),
        }
    }

    /// Whether the GPUs must all sit in one NVLink domain on type `t` (a wide training gang,
    /// or a replica larger than a node).
    pub fn needs_one_domain(&self, sc: &Scenario, t: TypeId) -> bool {
        let w = &sc.workloads[self.workload];
        let g = self.gpus_on(sc, t).unwrap_or(0);
        let wide =
            matches!(&w.spec, Spec::Training(s) if s.wide_nvlink) || w.kind() != Kind::Training;
        wide && g > sc.gpu_types[t].node_gpus
    }

    /// Throughput on type `t` of the whole allocation, tokens/s.
    pub fn rate_on(&self, sc: &Scenario, t: TypeId) -> f64 {
        let w = &sc.workloads[self.workload];
        w.rate(t).unwrap_or(0.0) * self.gpus_on(sc, t).unwrap_or(0) as f64
    }
}

/// Queue order: higher priority first, then inference before training before batch, then
/// earlier arrival, then submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueKey {
    pub neg_priority: i64,
    pub kind: Kind,
    pub arrival: Time,
    pub seq: u64,
}
