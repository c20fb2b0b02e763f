//! GPU types and pools as data: every hardware, price and switch-cost figure of a type lives
//! here, so a fourth type is one more config table, not new code.

use crate::units::Time;

/// Index of a GPU type in `Scenario::gpu_types`.
pub type TypeId = usize;

#[derive(Clone, Debug)]
pub struct GpuType {
    pub name: String,
    /// HBM per GPU, GB.
    pub hbm_gb: f64,
    /// Board power per GPU, W.
    pub tdp_w: f64,
    /// GPUs per allocation unit (an 8-GPU HGX node, a 4-GPU GB200 tray). Tenant isolation is
    /// per node.
    pub node_gpus: u32,
    /// GPUs per NVLink domain (8 on HGX, 72 on an NVL72 rack); a multiple of `node_gpus`.
    pub nvlink_domain_gpus: u32,
    /// Committed (reserved, take-or-pay) price, USD per GPU-hour.
    pub price_usd_per_gpu_hour: f64,
    /// On-demand list price, USD per GPU-hour, if the scenario gives one (needed by on-demand
    /// contracts and by committed ones that burst beyond their reservation).
    pub on_demand_usd_per_gpu_hour: Option<f64>,
    /// Spot (preemptible) price, USD per GPU-hour, if given (needed by spot contracts).
    pub spot_usd_per_gpu_hour: Option<f64>,
    /// Cost of owning the GPU apart from its energy (depreciation, facility, network,
    /// operations), USD per GPU-hour, whether the GPU is used or not.
    pub capital_usd_per_gpu_hour: f64,
    /// Power drawn per GPU in each state.
    pub power: Power,
    /// Time a node spends scrubbed, re-imaged and attested before a new tenant can use it.
    pub tenant_switch: Time,
    /// Fixed part of an inference model load.
    pub model_load_fixed: Time,
    /// Weight-loading bandwidth per node, GB/s.
    pub model_load_gb_per_s: f64,
    /// Time to (re)start a training job from its checkpoint.
    pub training_restart: Time,
    /// Unexpected interruptions per GPU-hour.
    pub failures_per_gpu_hour: f64,
    /// Time a failed node stays down.
    pub repair_time: Time,
}

/// Power per GPU: the board's draw in each state as a share of TDP, plus a constant host share
/// (CPUs, memory, NICs, fans: a node's power beyond its GPUs, per GPU) while the node is up,
/// times the facility's PUE. A node down for repair draws nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Power {
    pub tdp_w: f64,
    /// Share of TDP while compute-bound (training, prefill).
    pub busy: f64,
    /// Share of TDP while decode-bound (inference services and batch generation).
    pub decode: f64,
    /// Share of TDP while idle.
    pub idle: f64,
    /// Share of TDP during tenant and workflow switches (scrub, re-image, weight loading).
    pub switching: f64,
    pub host_w: f64,
    pub pue: f64,
}

impl Power {
    /// Board power in `state` as a share of TDP; busy work is `compute_bound` (training) or
    /// decode-bound (generation). A node down for repair draws nothing.
    #[inline]
    pub fn share(&self, state: super::cluster::GpuState, compute_bound: bool) -> f64 {
        use super::cluster::GpuState as S;
        match state {
            S::Busy if compute_bound => self.busy,
            S::Busy => self.decode,
            S::Idle => self.idle,
            S::TenantSwitch | S::WorkflowSwitch => self.switching,
            S::Down => 0.0,
        }
    }
}

impl GpuType {
    /// Nodes per NVLink domain.
    pub fn domain_nodes(&self) -> u32 {
        self.nvlink_domain_gpus / self.node_gpus
    }

    /// Time to load `model_gb` of weights onto a node, at most
    /// [`MAX_DURATION`](crate::units::MAX_DURATION) (however far a sweep scaled the costs).
    pub fn model_load_time(&self, model_gb: f64) -> Time {
        let transfer = crate::units::from_secs_f64(model_gb / self.model_load_gb_per_s);
        self.model_load_fixed
            .saturating_add(transfer)
            .min(crate::units::MAX_DURATION)
    }
}

/// A pool of GPUs of one type, in whole NVLink domains.
#[derive(Clone, Debug)]
pub struct Pool {
    pub gpu_type: TypeId,
    pub gpus: u32,
}

/// How `g` GPUs sit on nodes of `node_gpus` GPUs: a request that fits in one node takes one
/// node (a tensor-parallel group never spans nodes: between nodes it would run over the
/// network instead of NVLink); a wider one takes as few nodes as it can, `whole` nodes given
/// entirely and, if `rem` > 0, one more node giving the remainder. The engine refuses any
/// other shape, and the audit checks every allocation against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub whole: u32,
    pub rem: u32,
}

impl Shape {
    pub fn of(g: u32, node_gpus: u32) -> Shape {
        Shape {
            whole: g / node_gpus,
            rem: g % node_gpus,
        }
    }

    /// Nodes the request spans.
    pub fn nodes(&self) -> u32 {
        self.whole + u32::from(self.rem > 0)
    }

    /// GPUs a partly used node must offer to take part (the remainder; a whole node when there
    /// is none, which a partly used node never has).
    pub fn partial_need(&self, node_gpus: u32) -> u32 {
        if self.rem > 0 { self.rem } else { node_gpus }
    }

    /// Whether `nodes` (GPUs taken on each node) is this shape.
    pub fn matches(&self, node_gpus: u32, nodes: impl Iterator<Item = u32>) -> bool {
        let (mut count, mut rems) = (0, 0);
        for k in nodes {
            count += 1;
            if k != node_gpus {
                if k != self.rem {
                    return false;
                }
                rems += 1;
            }
        }
        count == self.nodes() && rems == u32::from(self.rem > 0)
    }
}
