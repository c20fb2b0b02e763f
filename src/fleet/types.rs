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
    /// Price charged to a tenant at multiplier 1, USD per GPU-hour.
    pub price_usd_per_gpu_hour: f64,
    /// Cost of owning and running the GPU (depreciation, power, facility), USD per GPU-hour.
    pub cost_usd_per_gpu_hour: f64,
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
