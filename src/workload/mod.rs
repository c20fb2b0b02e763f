//! Tenants and their workloads (training jobs, inference services, batch work): the demand
//! side of the model, as validated from the config.

pub mod arrivals;
pub mod demand;
pub mod replay;

use crate::fleet::TypeId;
use crate::units::Time;

pub use crate::fleet::TenantId;
pub type WorkloadId = usize;

/// How a tenant pays (see `docs/model.md`, "Money").
#[derive(Clone, Debug, PartialEq)]
pub enum Contract {
    /// Take-or-pay: every reserved GPU-hour is billed at `multiplier` x the type's committed
    /// price, used or not; GPUs held beyond the reservation (borrowed, so reclaimable) are
    /// billed at the `burst` price.
    Committed { multiplier: f64, burst: Burst },
    /// Every GPU-hour held, at the type's on-demand list price.
    OnDemand,
    /// Every GPU-hour held, at the type's spot price; all of the tenant's work is evictable.
    Spot,
    /// Per million output (generated) and input (prompt) tokens; `first_party` marks an
    /// internal transfer price for the provider's own service.
    PerToken {
        usd_per_million_output: f64,
        usd_per_million_input: f64,
        first_party: bool,
    },
}

/// The price of GPUs a committed tenant holds beyond its reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Burst {
    /// The type's spot price: borrowed GPUs can be reclaimed at any time, as spot capacity
    /// (the default; on a type without a spot price, the committed price).
    Spot,
    /// The type's on-demand list price.
    OnDemand,
    /// The tenant's own committed price.
    Committed,
}

impl Contract {
    /// The report's name for the contract's revenue line.
    pub fn name(&self) -> &'static str {
        match self {
            Contract::Committed { .. } => "committed",
            Contract::OnDemand => "on_demand",
            Contract::Spot => "spot",
            Contract::PerToken { .. } => "per_token",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub name: String,
    pub priority: i32,
    /// Guaranteed GPUs per GPU type.
    pub reserved: Vec<u32>,
    /// Guaranteed GPUs of any type.
    pub reserved_any: u32,
    pub contract: Contract,
}

impl Tenant {
    pub fn reserved_total(&self) -> u32 {
        self.reserved.iter().sum::<u32>() + self.reserved_any
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Inference,
    Training,
    Batch,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inference => "inference",
            Kind::Training => "training",
            Kind::Batch => "batch",
        }
    }
    pub const ALL: [Kind; 3] = [Kind::Training, Kind::Inference, Kind::Batch];
}

#[derive(Clone, Debug)]
pub struct JobSize {
    pub gpus: u32,
    pub weight: f64,
    pub tokens: f64,
}

#[derive(Clone, Debug)]
pub struct ExplicitJob {
    pub at: Time,
    pub gpus: u32,
    pub tokens: f64,
}

#[derive(Clone, Debug)]
pub struct TrainingSpec {
    /// Job tokens are exponentially distributed around the size's mean (for queueing checks)
    /// rather than lognormal with `tokens_cv`.
    pub exponential_tokens: bool,
    pub checkpoint_interval: Time,
    pub wide_nvlink: bool,
    pub arrivals_per_hour: f64,
    pub sizes: Vec<JobSize>,
    pub tokens_cv: f64,
    pub jobs: Vec<ExplicitJob>,
}

#[derive(Clone, Debug)]
pub struct Diurnal {
    pub peak: f64,
    pub trough: f64,
    pub peak_hour: f64,
    pub weekend: f64,
}

#[derive(Clone, Debug)]
pub struct DemandChange {
    pub at: Time,
    pub factor: f64,
}

#[derive(Clone, Debug)]
pub struct InferenceSpec {
    pub model_gb: f64,
    /// Mean demanded output tokens/s (0 when the demand is replayed from a trace).
    pub demand_tokens_per_s: f64,
    /// Demand replayed from a trace; the diurnal shape and demand changes scale it.
    pub replay: Option<std::sync::Arc<replay::Replay>>,
    /// GPU time of one prompt token in units of one generated token's (`replay` only).
    pub prompt_token_cost: f64,
    /// Multiplier of the whole demand (1 as configured; set by `--scale`).
    pub demand_scale: f64,
    pub diurnal: Option<Diurnal>,
    pub demand_changes: Vec<DemandChange>,
    pub target_utilization: f64,
    pub min_replicas: u32,
    pub slo: Slo,
    pub autoscaler: Autoscaler,
}

/// A service's latency objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// The latency class it was taken from (`interactive`, `server`, `offline`), if any.
    pub class: Option<&'static str>,
    /// Queueing delay a token may wait and still count as on time.
    pub delay: Time,
    /// Age at which waiting demand is dropped (`None`: it waits however long it takes).
    pub abandon_after: Option<Time>,
}

/// How a service's autoscaler decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMode {
    /// From demand already observed over a trailing window, with stabilization delays.
    Reactive,
    /// From the coming interval's demand, known in advance: a bound no real autoscaler
    /// reaches, for comparison.
    Oracle,
}

impl ScaleMode {
    pub fn name(self) -> &'static str {
        match self {
            ScaleMode::Reactive => "reactive",
            ScaleMode::Oracle => "oracle",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Autoscaler {
    pub mode: ScaleMode,
    /// Trailing window over which observed demand is averaged.
    pub window: Time,
    /// Stabilization: a scale-up follows the lowest recommendation of this past span, a
    /// scale-down the highest (the Kubernetes HPA's `behavior` rule).
    pub scale_up_delay: Time,
    pub scale_down_delay: Time,
    pub max_replicas: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub model_gb: f64,
    pub arrivals_per_hour: f64,
    pub job_tokens: f64,
    pub tokens_cv: f64,
    pub backlog_jobs: u32,
}

#[derive(Clone, Debug)]
pub enum Spec {
    Training(TrainingSpec),
    Inference(InferenceSpec),
    Batch(BatchSpec),
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub tenant: TenantId,
    pub priority: i32,
    pub preemptible: bool,
    /// Tokens/s per GPU on each GPU type; `None` where the workload cannot run.
    pub tokens_per_s_per_gpu: Vec<Option<f64>>,
    /// GPUs per replica on each GPU type (inference and batch); empty for training.
    pub replica_gpus: Vec<Option<u32>>,
    /// Tokens/s per GPU on the work reference type (`simulation.work_reference`): a token of
    /// this workload is `1 / work_rate` reference GPU-seconds of work.
    pub work_rate: f64,
    pub spec: Spec,
}

impl Workload {
    pub fn kind(&self) -> Kind {
        match self.spec {
            Spec::Training(_) => Kind::Training,
            Spec::Inference(_) => Kind::Inference,
            Spec::Batch(_) => Kind::Batch,
        }
    }

    pub fn model_gb(&self) -> Option<f64> {
        match &self.spec {
            Spec::Inference(s) => Some(s.model_gb),
            Spec::Batch(s) => Some(s.model_gb),
            Spec::Training(_) => None,
        }
    }

    /// Relative speed of GPU type `t`: tokens/s per GPU there.
    pub fn rate(&self, t: TypeId) -> Option<f64> {
        self.tokens_per_s_per_gpu.get(t).copied().flatten()
    }
}

/// Most GPUs one inference or batch replica may span.
pub const MAX_REPLICA_GPUS: u32 = 1_024;

/// Minimum GPUs per replica on a type from HBM: the smallest power of two whose HBM holds the
/// weights with `headroom` left for KV cache and activations, in whole nodes once it is wider
/// than a node. `None` above [`MAX_REPLICA_GPUS`].
pub fn min_replica_gpus(model_gb: f64, headroom: f64, hbm_gb: f64, node_gpus: u32) -> Option<u32> {
    let need = model_gb / (1.0 - headroom);
    let mut g = 1u32;
    while (g as f64) * hbm_gb < need {
        g *= 2;
        if g > MAX_REPLICA_GPUS {
            return None;
        }
    }
    if g > node_gpus {
        g = g.div_ceil(node_gpus) * node_gpus;
    }
    (g <= MAX_REPLICA_GPUS).then_some(g)
}
