//! The scenario file as written by users: serde structs that mirror the TOML one to one.
//! Unknown keys are errors, so a typo is reported instead of silently ignored.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::values::{Dur, Horizon, Tokens};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub simulation: RawSimulation,
    /// In the order the file lists them: that is the fleet's "config order" of GPU types.
    pub gpu_types: indexmap::IndexMap<String, RawGpuType>,
    #[serde(default)]
    pub pools: Vec<RawPool>,
    /// A fleet read from a trace's node inventory, added to `pools`.
    #[serde(default)]
    pub inventory: Option<RawInventory>,
    pub tenants: Vec<RawTenant>,
    #[serde(default)]
    pub training: Vec<RawTraining>,
    #[serde(default)]
    pub inference: Vec<RawInference>,
    #[serde(default)]
    pub batch: Vec<RawBatch>,
    #[serde(default)]
    pub economics: RawEconomics,
}

/// Prices that are not per GPU type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEconomics {
    /// Energy price, USD per kWh at the meter (facility power, PUE included).
    #[serde(default = "default_energy_price")]
    pub energy_usd_per_kwh: f64,
    /// SLA credit paid per GPU-hour of guarantee shortfall, as a share of the committed price.
    #[serde(default = "default_sla_credit")]
    pub sla_credit_share: f64,
}

impl Default for RawEconomics {
    fn default() -> Self {
        RawEconomics {
            energy_usd_per_kwh: default_energy_price(),
            sla_credit_share: default_sla_credit(),
        }
    }
}

fn default_energy_price() -> f64 {
    0.08
}

fn default_sla_credit() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub horizon: Horizon,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_policy")]
    pub policy: String,
    #[serde(default)]
    pub compare: Vec<String>,
    #[serde(default = "default_autoscale")]
    pub autoscale_interval: Dur,
    #[serde(default = "default_true")]
    pub failures: bool,
    #[serde(default = "default_exempt")]
    pub preempt_exempt: Dur,
    /// Whether a policy may move running training jobs to a faster GPU type at their next
    /// checkpoint (off by default).
    #[serde(default)]
    pub migration: bool,
    /// Folder that trace `file`s are relative to (itself relative to the config file);
    /// `--trace-dir` overrides it.
    #[serde(default)]
    pub trace_dir: Option<String>,
    /// GPU type whose GPU-hours measure work (tokens over the workload's throughput there):
    /// `H100` if the scenario defines it, else its first GPU type.
    #[serde(default)]
    pub work_reference: Option<String>,
}

/// A node inventory read from a trace, mapped onto configured GPU types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub reader: String,
    pub file: String,
    /// Trace GPU model -> configured GPU type.
    pub models: BTreeMap<String, String>,
}

/// A trace that drives a workload's demand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    pub reader: String,
    pub file: String,
    /// Simulated time at which the (windowed) trace begins.
    #[serde(default)]
    pub start: Option<Dur>,
    /// Part of the trace to replay, in trace time.
    #[serde(default)]
    pub from: Option<Dur>,
    #[serde(default)]
    pub to: Option<Dur>,
    /// Replay k x as fast (arrivals k x as dense).
    #[serde(default)]
    pub rate_scale: Option<f64>,
    /// Repeat the (windowed) trace until the horizon.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    // Inference readers.
    #[serde(default)]
    pub prompt_token_cost: Option<f64>,
    #[serde(default)]
    pub clients: Option<Vec<String>>,
    #[serde(default)]
    pub client_ranks: Option<Vec<u32>>,
    #[serde(default)]
    pub input_tokens: Option<f64>,
    #[serde(default)]
    pub output_tokens: Option<f64>,
    // Job readers.
    #[serde(default)]
    pub ran_on: Option<String>,
    #[serde(default)]
    pub ran_on_tokens_per_s_per_gpu: Option<f64>,
    #[serde(default)]
    pub throughputs: Option<String>,
    #[serde(default)]
    pub gpu_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub reference_worker: Option<String>,
}

fn default_exempt() -> Dur {
    Dur(10 * 60 * crate::units::US_PER_SEC)
}

fn default_policy() -> String {
    "first_fit".into()
}
fn default_autoscale() -> Dur {
    Dur(5 * 60 * crate::units::US_PER_SEC)
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpuType {
    pub hbm_gb: f64,
    pub tdp_w: f64,
    pub node_gpus: u32,
    pub nvlink_domain_gpus: u32,
    pub price_usd_per_gpu_hour: f64,
    #[serde(default)]
    pub on_demand_usd_per_gpu_hour: Option<f64>,
    #[serde(default)]
    pub spot_usd_per_gpu_hour: Option<f64>,
    pub capital_usd_per_gpu_hour: f64,
    #[serde(default)]
    pub power: RawPower,
    #[serde(default = "default_host_w")]
    pub host_w_per_gpu: f64,
    #[serde(default = "default_pue")]
    pub pue: f64,
    pub tenant_switch: Dur,
    pub model_load_fixed: Dur,
    pub model_load_gb_per_s: f64,
    pub training_restart: Dur,
    #[serde(default)]
    pub failures_per_gpu_hour: f64,
    #[serde(default = "default_repair")]
    pub repair_time: Dur,
}

/// Board power per state as a share of TDP (defaults: the Splitwise power model).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPower {
    #[serde(default = "share_one")]
    pub busy: f64,
    #[serde(default = "default_decode")]
    pub decode: f64,
    #[serde(default = "default_idle")]
    pub idle: f64,
    #[serde(default = "default_idle")]
    pub switching: f64,
}

impl Default for RawPower {
    fn default() -> Self {
        RawPower {
            busy: share_one(),
            decode: default_decode(),
            idle: default_idle(),
            switching: default_idle(),
        }
    }
}

fn share_one() -> f64 {
    1.0
}

fn default_decode() -> f64 {
    0.54
}

fn default_idle() -> f64 {
    0.11
}

fn default_host_w() -> f64 {
    300.0
}

fn default_pue() -> f64 {
    1.3
}

fn default_repair() -> Dur {
    Dur(4 * crate::units::US_PER_HOUR)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub gpu_type: String,
    pub gpus: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    pub name: String,
    #[serde(default)]
    pub priority: i32,
    /// Guaranteed GPUs per GPU type name; the key `any` means "of any type".
    #[serde(default)]
    pub reserved_gpus: BTreeMap<String, u32>,
    /// `committed` (the default), `on_demand`, `spot` or `per_token`.
    #[serde(default)]
    pub contract: Option<String>,
    #[serde(default)]
    pub price_multiplier: Option<f64>,
    /// Price of GPUs held beyond a committed reservation: `spot` (default), `on_demand` or
    /// `committed`.
    #[serde(default)]
    pub burst_price: Option<String>,
    #[serde(default)]
    pub usd_per_million_output_tokens: Option<f64>,
    #[serde(default)]
    pub usd_per_million_input_tokens: Option<f64>,
    /// A per-token price that is an internal transfer price (the provider's own service).
    #[serde(default)]
    pub first_party: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobSize {
    pub gpus: u32,
    pub weight: f64,
    pub tokens: Tokens,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub at: Dur,
    pub gpus: u32,
    pub tokens: Tokens,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    pub name: String,
    pub tenant: String,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub tokens_per_s_per_gpu: BTreeMap<String, f64>,
    /// Tokens/s per GPU on the work reference type, where the workload cannot run there.
    #[serde(default)]
    pub reference_tokens_per_s_per_gpu: Option<f64>,
    pub checkpoint_interval: Dur,
    #[serde(default)]
    pub trace: Option<RawTrace>,
    #[serde(default)]
    pub wide_nvlink: bool,
    #[serde(default)]
    pub preemptible: bool,
    #[serde(default)]
    pub arrivals_per_hour: f64,
    #[serde(default)]
    pub sizes: Vec<RawJobSize>,
    #[serde(default)]
    pub tokens_cv: f64,
    /// `lognormal` (mean preserved, spread `tokens_cv`) or `exponential` (mean preserved).
    #[serde(default)]
    pub tokens_distribution: Option<String>,
    #[serde(default)]
    pub jobs: Vec<RawJob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiurnal {
    pub peak: f64,
    pub trough: f64,
    #[serde(default = "default_peak_hour")]
    pub peak_hour: f64,
    #[serde(default = "one")]
    pub weekend: f64,
}

fn default_peak_hour() -> f64 {
    14.0
}
fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemandChange {
    pub at: Dur,
    pub factor: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInference {
    pub name: String,
    pub tenant: String,
    #[serde(default)]
    pub priority: Option<i32>,
    pub model_gb: f64,
    #[serde(default = "default_headroom")]
    pub hbm_headroom: f64,
    /// Required unless `slo` names a class, whose measured rates are then the default.
    #[serde(default)]
    pub tokens_per_s_per_gpu: BTreeMap<String, f64>,
    /// Tokens/s per GPU on the work reference type, where the workload cannot run there.
    #[serde(default)]
    pub reference_tokens_per_s_per_gpu: Option<f64>,
    #[serde(default)]
    pub gpus_per_replica: BTreeMap<String, u32>,
    /// Latency class: `interactive`, `server` or `offline`.
    #[serde(default)]
    pub slo: Option<String>,
    #[serde(default)]
    pub slo_delay: Option<Dur>,
    #[serde(default)]
    pub abandon_after: Option<Dur>,
    #[serde(default)]
    pub autoscaler: Option<RawAutoscaler>,
    #[serde(default)]
    pub demand_tokens_per_s: Option<f64>,
    #[serde(default)]
    pub trace: Option<RawTrace>,
    #[serde(default)]
    pub diurnal: Option<RawDiurnal>,
    #[serde(default)]
    pub demand_changes: Vec<RawDemandChange>,
    #[serde(default = "default_target_util")]
    pub target_utilization: f64,
    #[serde(default = "one_u32")]
    pub min_replicas: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaler {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub window: Option<Dur>,
    #[serde(default)]
    pub scale_up_delay: Option<Dur>,
    #[serde(default)]
    pub scale_down_delay: Option<Dur>,
    #[serde(default)]
    pub max_replicas: Option<u32>,
}

fn default_headroom() -> f64 {
    0.3
}
fn default_target_util() -> f64 {
    0.8
}
fn one_u32() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    pub name: String,
    pub tenant: String,
    #[serde(default)]
    pub priority: Option<i32>,
    pub model_gb: f64,
    #[serde(default = "default_headroom")]
    pub hbm_headroom: f64,
    pub tokens_per_s_per_gpu: BTreeMap<String, f64>,
    /// Tokens/s per GPU on the work reference type, where the workload cannot run there.
    #[serde(default)]
    pub reference_tokens_per_s_per_gpu: Option<f64>,
    #[serde(default)]
    pub gpus_per_replica: BTreeMap<String, u32>,
    #[serde(default)]
    pub arrivals_per_hour: f64,
    pub job_tokens: Tokens,
    #[serde(default)]
    pub tokens_cv: f64,
    #[serde(default)]
    pub backlog_jobs: u32,
    #[serde(default = "default_true")]
    pub preemptible: bool,
}
