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
    /// Tokens the job still has to do (0 for an inference replica, which runs until scaled
    /// down).
    pub tokens_left: f64,
    /// The job's submission order ([`crate::sim::job::Job::serial`]); 0 for a replica.
    pub serial: u32,
    /// GPUs of its smallest shape on any type of the fleet ([`Shapes::smallest`]), `u32::MAX`
    /// if it fits none: what it adds to its tenant's quota at least.
    pub smallest: u32,
}

/// Per workload, what the smallest shape of its requests depends on, worked out once: a
/// request is built at every offer, and its quota check needs its smallest shape.
#[derive(Clone, Debug, Default)]
pub struct Shapes {
    /// GPUs of the smallest replica on a type it can run on (`u32::MAX` if none; inference
    /// and batch).
    replica: Vec<u32>,
    /// The largest gang that fits a type it can run on (0 if none; training).
    gang: Vec<u32>,
}

impl Shapes {
    pub fn new(sc: &Scenario) -> Self {
        fn types<'a>(
            sc: &'a Scenario,
            w: &'a crate::workload::Workload,
        ) -> impl Iterator<Item = TypeId> + 'a {
            (0..sc.gpu_types.len()).filter(move |&t| w.rate(t).is_some() && sc.type_gpus(t) > 0)
        }
        let replica = (sc.workloads.iter())
            .map(|w| {
                types(sc, w)
                    .filter_map(|t| w.replica_gpus.get(t).copied().flatten())
                    .min()
                    .unwrap_or(u32::MAX)
            })
            .collect();
        let gang = (sc.workloads.iter())
            .map(|w| match &w.spec {
                Spec::Training(s) => types(sc, w)
                    .map(|t| match s.wide_nvlink {
                        true => sc.gpu_types[t].nvlink_domain_gpus,
                        false => sc.type_gpus(t),
                    })
                    .max()
                    .unwrap_or(0),
                _ => 0,
            })
            .collect();
        Shapes { replica, gang }
    }

    /// GPUs of the smallest shape of a request of workload `w` (with `gang` for training) on
    /// any type, as [`Request::gpus_on`] gives them; `u32::MAX` if it fits none.
    pub fn smallest(&self, sc: &Scenario, w: WorkloadId, gang: u32) -> u32 {
        match sc.workloads[w].spec {
            Spec::Training(_) if gang <= self.gang[w] => gang,
            Spec::Training(_) => u32::MAX,
            _ => self.replica[w],
        }
    }
}

impl Request {
    /// GPUs this request needs on type `t`, or `None` if it cannot run there.
    pub fn gpus_on(&self, sc: &Scenario, t: TypeId) -> Option<u32> {
        let w = &sc.workloads[self.workload];
        w.rate(t)?;
        let in_fleet = sc.type_gpus(t);
        if in_fleet == 0 {
            return None; // a type the config defines but the fleet has none of
        }
        let ty = &sc.gpu_types[t];
        match &w.spec {
            Spec::Training(s) => {
                let fits = if s.wide_nvlink {
                    self.gang <= ty.nvlink_domain_gpus
                } else {
                    self.gang <= in_fleet
                };
                fits.then_some(self.gang)
            }
            _ => w.replica_gpus.get(t).copied().flatten(),
        }
    }

    /// Whether the GPUs must all sit in one NVLink domain on type `t`: a wide training gang, or
    /// a replica larger than a node that fits one domain (its tensor or expert parallelism
    /// stays on NVLink). A replica wider than a domain takes whole nodes anywhere, its stages
    /// talking over the network, at the throughput its config gives for that shape.
    pub fn needs_one_domain(&self, sc: &Scenario, t: TypeId) -> bool {
        let w = &sc.workloads[self.workload];
        let g = self.gpus_on(sc, t).unwrap_or(0);
        let ty = &sc.gpu_types[t];
        match &w.spec {
            Spec::Training(s) => s.wide_nvlink && g > ty.node_gpus,
            _ => g > ty.node_gpus && g <= ty.nvlink_domain_gpus,
        }
    }

    /// The workflow this request loads: the workload for inference and batch (replicas and
    /// jobs of one workload share a model), the job itself for training.
    pub fn workflow(&self, sc: &Scenario) -> u32 {
        match (self.kind, self.target) {
            (Kind::Training, Target::Job(_)) => sc.workloads.len() as u32 + self.serial,
            _ => self.workload as u32,
        }
    }

    /// Expected running time on type `t`, in seconds (`None` for an inference replica).
    pub fn expected_run_s(&self, sc: &Scenario, t: TypeId) -> Option<f64> {
        match self.target {
            Target::Replica(_) => None,
            Target::Job(_) => Some(self.tokens_left / self.rate_on(sc, t).max(1e-9)),
        }
    }

    /// Throughput on type `t` of the whole allocation, tokens/s.
    pub fn rate_on(&self, sc: &Scenario, t: TypeId) -> f64 {
        let w = &sc.workloads[self.workload];
        w.rate(t).unwrap_or(0.0) * self.gpus_on(sc, t).unwrap_or(0) as f64
    }
}

/// Queue order: higher priority first, then inference before training before batch, then
/// earlier arrival, then submission order. The class fields come last and never decide the
/// order (submission order is unique); they let the queue find the request's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueKey {
    pub neg_priority: i64,
    pub kind: Kind,
    pub arrival: Time,
    pub seq: u64,
    pub workload: u32,
    pub gang: u32,
}

impl QueueKey {
    /// The request's class: (workload, gang size).
    pub fn class(&self) -> (usize, u32) {
        (self.workload as usize, self.gang)
    }
}
