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
    /// Folder that trace `file`s are relative to (itself relative to the config file);
    /// `--trace-dir` overrides it.
    #[serde(default)]
    pub trace_dir: Option<String>,
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
    pub cost_usd_per_gpu_hour: f64,
    pub tenant_switch: Dur,
    pub model_load_fixed: Dur,
    pub model_load_gb_per_s: f64,
    pub training_restart: Dur,
    #[serde(default)]
    pub failures_per_gpu_hour: f64,
    #[serde(default = "default_repair")]
    pub repair_time: Dur,
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
    #[serde(default)]
    pub price_multiplier: Option<f64>,
    #[serde(default)]
    pub usd_per_million_tokens: Option<f64>,
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
    pub tokens_per_s_per_gpu: BTreeMap<String, f64>,
    #[serde(default)]
    pub gpus_per_replica: BTreeMap<String, u32>,
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
