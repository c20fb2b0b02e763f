//! The valid range of every number a scenario gives, in one place. The loader checks each
//! value against its range and names the file, line and field of one outside it; together
//! the ranges keep every figure a run computes finite (revenue of the largest fleet at the
//! highest price over the longest horizon is about 1e19 USD), and its memory and events
//! bounded by the fleet and the horizon. The bounds are far beyond any real value (the
//! defaults in `parameters.md` sit orders of magnitude inside them); they exist to refuse
//! typos and adversarial input, not to second-guess a scenario.

use crate::units::{Time, US_PER_HOUR};

/// Longest horizon: 100 years (`simulation.horizon`, `--horizon`).
pub const MAX_HORIZON: Time = 100 * 8_766 * US_PER_HOUR;
/// Shortest autoscaling interval (`simulation.autoscale_interval`): 1 s.
pub const MIN_AUTOSCALE_INTERVAL: Time = crate::units::US_PER_SEC;
/// HBM per GPU, GB.
pub const MAX_HBM_GB: f64 = 10_000.0;
/// Board power per GPU, W.
pub const MAX_TDP_W: f64 = 100_000.0;
/// GPUs per node.
pub const MAX_NODE_GPUS: u32 = 1_024;
/// Price or cost of a GPU-hour, USD (list prices are 2-10).
pub const MAX_USD_PER_GPU_HOUR: f64 = 1_000.0;
/// Host power per GPU (CPUs, memory, NICs, fans), W.
pub const MAX_HOST_W_PER_GPU: f64 = 100_000.0;
/// Power usage effectiveness: facility power over IT power (real sites: 1.05-2).
pub const MAX_PUE: f64 = 5.0;
/// Energy price, USD per kWh (real tariffs: 0.03-0.40).
pub const MAX_USD_PER_KWH: f64 = 100.0;
/// SLA credit per shortfall GPU-hour, as a share of the committed price.
pub const MAX_SLA_CREDIT_SHARE: f64 = 100.0;
/// Weight-loading bandwidth per node, GB/s.
pub const MAX_LOAD_GB_PER_S: f64 = 1e6;
/// Unexpected interruptions per GPU-hour (measured fleets: 1e-4 to 1e-3).
pub const MAX_FAILURES_PER_GPU_HOUR: f64 = 1.0;
/// A tenant's price multiplier.
pub const MAX_PRICE_MULTIPLIER: f64 = 100.0;
/// Price of a million tokens, USD.
pub const MAX_USD_PER_MILLION_TOKENS: f64 = 10_000.0;
/// Tokens per second per GPU, any workload.
pub const MAX_TOKENS_PER_S_PER_GPU: f64 = 1e9;
/// Random job arrivals per hour of one workload.
pub const MAX_ARRIVALS_PER_HOUR: f64 = 100_000.0;
/// Coefficient of variation of job sizes in tokens.
pub const MAX_TOKENS_CV: f64 = 10.0;
/// Tokens of one job.
pub const MAX_JOB_TOKENS: f64 = 1e18;
/// Weight of one job size in a mix.
pub const MAX_SIZE_WEIGHT: f64 = 1e9;
/// GPUs of one job.
pub const MAX_JOB_GPUS: u32 = crate::fleet::MAX_FLEET_GPUS as u32;
/// Model weights, GB.
pub const MAX_MODEL_GB: f64 = 100_000.0;
/// A service's mean demand, output tokens per second.
pub const MAX_DEMAND_TOKENS_PER_S: f64 = 1e12;
/// A demand multiplier: the diurnal peak, trough and weekend factors, a demand change.
pub const MAX_DEMAND_FACTOR: f64 = 1e6;
/// A service's minimum replicas.
pub const MAX_MIN_REPLICAS: u32 = 1_000_000;
/// Jobs held at time 0 by one batch workload.
pub const MAX_BACKLOG_JOBS: u32 = 10_000_000;
/// Jobs a run may submit over its horizon, all workloads together (random arrivals counted at
/// their mean): each costs a record while it waits and a wait and a completion time in the
/// report's figures.
pub const MAX_JOBS: f64 = 50_000_000.0;
/// Speed-up of a replayed trace (`rate_scale`).
pub const MAX_RATE_SCALE: f64 = 10_000.0;
/// Cost of a prompt token in output tokens (`prompt_token_cost`).
pub const MAX_PROMPT_TOKEN_COST: f64 = 100.0;
/// Tokens of one replayed request (`input_tokens`, `output_tokens`).
pub const MAX_REQUEST_TOKENS: f64 = 1e9;
/// Shortest pass of a looped trace: a loop of a trace whose rows all share one time would
/// otherwise repeat without end.
pub const MIN_LOOP_PERIOD: Time = crate::units::US_PER_SEC;
/// Longest autoscaler window or stabilization delay: a week.
pub const MAX_AUTOSCALE_WINDOW: Time = 7 * 24 * US_PER_HOUR;
