//! Scenario configuration: reads a TOML file, validates every field, and builds the
//! [`Scenario`] the engine runs. Every error names the file, the line and the field.

mod contracts;
pub mod limits;
pub mod locate;
pub mod raw;
mod service;
pub mod traces;
pub mod values;

pub use traces::TraceUse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::fleet::{GpuType, MAX_FLEET_GPUS, Pool, TypeId};
use crate::units::Time;
use crate::workload::{
    BatchSpec, Contract, DemandChange, Diurnal, ExplicitJob, InferenceSpec, JobSize, Kind, Spec,
    Tenant, TrainingSpec, Workload, min_replica_gpus,
};
pub use contracts::Economics;
use limits as L;
use locate::{KeyPath, line_col, path_at, span_of};
use raw::RawConfig;

/// A config file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{col}: field `{field}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        field: String,
        message: String,
    },
}

/// Most explicit training jobs [`Scenario::scale`] may make by repeating a scenario's own.
pub const MAX_SCALED_JOBS: u64 = 10_000_000;

/// Why a scenario cannot be scaled by a factor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScaleError {
    #[error("the factor must be a finite number > 0")]
    NotPositive(f64),
    #[error(
        "this fleet of {gpus} GPUs would grow to {} GPUs; a fleet may have at most \
         {MAX_FLEET_GPUS}, so the factor can be at most {} here",
        count(*.scaled),
        below(*.max_k)
    )]
    FleetTooLarge {
        k: f64,
        gpus: u64,
        scaled: f64,
        max_k: f64,
    },
    #[error("{what} would be {}, more than its limit of {max}", count(*.value))]
    CountTooLarge {
        k: f64,
        what: String,
        value: f64,
        max: u64,
    },
    #[error("{what} ({value}) would be too large to compute with")]
    RateTooLarge { k: f64, what: String, value: f64 },
    #[error(
        "the {jobs} explicit training jobs would be repeated into {}; at most \
         {MAX_SCALED_JOBS} are allowed",
        count(*.scaled)
    )]
    TooManyJobs { k: f64, jobs: u64, scaled: f64 },
    #[error(
        "tenants reserve {reserved} {what} in all, but the scaled pools hold {gpus}: the \
         contracts need a larger fleet"
    )]
    ReservationsExceedFleet {
        what: String,
        reserved: u64,
        gpus: u64,
    },
}

/// A number for a message: as written, or in scientific notation when huge.
fn shown(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e15 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A whole number for a message: in digits, or in scientific notation when huge.
fn count(x: f64) -> String {
    if x < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.2e}")
    }
}

/// `x` (> 0) rounded down to a short figure: whole above 100, else three significant digits.
fn below(x: f64) -> String {
    if x >= 100.0 {
        format!("{}", x.floor())
    } else {
        let step = 10f64.powi(x.log10().floor() as i32 - 2);
        let v = (x / step).floor() * step;
        let decimals = (2 - x.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// A validated scenario: fleet, tenants, workloads and simulation settings.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub horizon: Time,
    pub seed: u64,
    pub policy: String,
    /// Policies `--compare` runs when none are named on the command line.
    pub compare: Vec<String>,
    /// Factor applied to every switch cost (1 as configured; set by the sweep).
    pub switch_cost_scale: f64,
    pub autoscale_interval: Time,
    pub failures: bool,
    /// Running time before an allocation may be preempted (Slurm's PreemptExemptTime).
    pub preempt_exempt: Time,
    /// Whether a policy may move running training jobs to a faster GPU type at their next
    /// checkpoint (`simulation.migration`; asked at each autoscaling tick).
    pub migration: bool,
    pub economics: Economics,
    /// GPU type whose GPU-hours measure work.
    pub work_reference: TypeId,
    pub gpu_types: Vec<GpuType>,
    /// The fleet; after changing it, call [`Scenario::recount_pools`].
    pub pools: Vec<Pool>,
    /// GPUs per type, counted from `pools`.
    type_gpus: Vec<u32>,
    pub tenants: Vec<Tenant>,
    pub workloads: Vec<Workload>,
    /// Traces the scenario read, with their row counts.
    pub traces: Vec<TraceUse>,
    /// Where the file names each policy (`simulation.policy` and `compare`), so that a name
    /// can be checked against the policies a build knows ([`Scenario::check_policies`])
    /// without this layer knowing them.
    pub policy_names: Vec<(String, Located)>,
}

/// A place in a config file: file, line, column and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub field: String,
}

impl Scenario {
    /// Checks every policy the file names against `known`, with the file, line and field of
    /// an unknown one.
    pub fn check_policies(&self, known: &[&str]) -> Result<(), ConfigError> {
        for (name, at) in &self.policy_names {
            if !known.contains(&name.as_str()) {
                return Err(ConfigError::Invalid {
                    file: at.file.clone(),
                    line: at.line,
                    col: at.col,
                    field: at.field.clone(),
                    message: format!("unknown policy `{name}` (known: {})", known.join(", ")),
                });
            }
        }
        Ok(())
    }
}

/// How to read a scenario's traces.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Folder trace files are relative to, overriding `simulation.trace_dir`.
    pub trace_dir: Option<PathBuf>,
    /// Skip bad trace rows (counted in the report) instead of stopping.
    pub lenient: bool,
    /// Horizon overriding `simulation.horizon` (looped traces are laid out up to it).
    pub horizon: Option<Time>,
}

impl Scenario {
    /// GPUs of type `t` across all pools.
    /// GPUs of type `t` in the fleet (read on every placement decision, so kept per type).
    #[inline]
    pub fn type_gpus(&self, t: TypeId) -> u32 {
        match self.type_gpus.get(t) {
            Some(&g) if self.type_gpus.len() == self.gpu_types.len() => g,
            _ => Self::count_type_gpus(&self.pools, t),
        }
    }

    fn count_type_gpus(pools: &[Pool], t: TypeId) -> u32 {
        pools
            .iter()
            .filter(|p| p.gpu_type == t)
            .map(|p| p.gpus)
            .sum()
    }

    /// Recounts the GPUs per type after `pools` changed.
    pub fn recount_pools(&mut self) {
        self.type_gpus = (0..self.gpu_types.len())
            .map(|t| Self::count_type_gpus(&self.pools, t))
            .collect();
    }

    pub fn total_gpus(&self) -> u64 {
        self.pools.iter().map(|p| p.gpus as u64).sum()
    }

    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.gpu_types.iter().position(|g| g.name == name)
    }

    /// The same scenario with `k` times the fleet and `k` times the demand, so demand per GPU
    /// stays the same: pools (rounded to whole NVLink domains, at least one), reservations,
    /// inference demand and minimum replicas, arrival rates and batch backlogs. Explicit
    /// training jobs are repeated `round(k)` times (kept once when `k` < 1.5).
    ///
    /// `k` must be finite and > 0, the scaled fleet at most [`MAX_FLEET_GPUS`] GPUs, every
    /// scaled count must fit its integer type and the explicit jobs stay within
    /// [`MAX_SCALED_JOBS`]; otherwise the scenario is left as it was.
    pub fn scale(&mut self, k: f64) -> Result<(), ScaleError> {
        let mut out = self.clone();
        out.scale_pools(k)?;
        let fleet = out.total_gpus() as f64;
        let cap: Vec<f64> = (0..out.gpu_types.len())
            .map(|t| out.type_gpus(t) as f64)
            .collect();
        // A count times k, rounded; `what` names it if it does not fit a u32.
        let times = |x: u32, what: &dyn Fn() -> String| -> Result<u32, ScaleError> {
            let v = (x as f64 * k).round();
            if v <= u32::MAX as f64 {
                Ok(v as u32)
            } else {
                Err(ScaleError::CountTooLarge {
                    k,
                    what: what(),
                    value: v,
                    max: u32::MAX as u64,
                })
            }
        };
        let rate = |x: &mut f64, what: &dyn Fn() -> String| -> Result<(), ScaleError> {
            let v = *x * k;
            if !v.is_finite() {
                return Err(ScaleError::RateTooLarge {
                    k,
                    what: what(),
                    value: *x,
                });
            }
            *x = v;
            Ok(())
        };
        for tn in &mut out.tenants {
            // Within the scaled fleet: exact in u32.
            for (t, r) in tn.reserved.iter_mut().enumerate() {
                *r = (*r as f64 * k).round().min(cap[t]) as u32;
            }
            tn.reserved_any = (tn.reserved_any as f64 * k).round().min(fleet) as u32;
        }
        let copies = k.round().max(1.0);
        let explicit: f64 = out
            .workloads
            .iter()
            .map(|w| match &w.spec {
                Spec::Training(s) => s.jobs.len() as f64,
                _ => 0.0,
            })
            .sum();
        if copies > 1.0 && explicit * copies > MAX_SCALED_JOBS as f64 {
            return Err(ScaleError::TooManyJobs {
                k,
                jobs: explicit as u64,
                scaled: explicit * copies,
            });
        }
        let copies = copies as usize;
        for w in &mut out.workloads {
            let name = w.name.clone();
            match &mut w.spec {
                Spec::Inference(s) => {
                    let what = || format!("inference `{name}`: demand_tokens_per_s");
                    rate(&mut s.demand_tokens_per_s, &what)?;
                    if s.replay.is_some() {
                        let what = || format!("inference `{name}`: the replayed demand");
                        rate(&mut s.demand_scale, &what)?;
                    }
                    let what = || format!("inference `{name}`: min_replicas");
                    s.min_replicas = times(s.min_replicas, &what)?.max(1);
                }
                Spec::Training(s) => {
                    let what = || format!("training `{name}`: arrivals_per_hour");
                    rate(&mut s.arrivals_per_hour, &what)?;
                    let one = s.jobs.clone();
                    s.jobs.reserve(one.len() * (copies - 1));
                    for _ in 1..copies {
                        s.jobs.extend(one.iter().cloned());
                    }
                    s.jobs.sort_by_key(|j| j.at);
                }
                Spec::Batch(s) => {
                    let what = || format!("batch `{name}`: arrivals_per_hour");
                    rate(&mut s.arrivals_per_hour, &what)?;
                    let what = || format!("batch `{name}`: backlog_jobs");
                    s.backlog_jobs = times(s.backlog_jobs, &what)?;
                }
            }
        }
        *self = out;
        Ok(())
    }

    /// The same demand on `k` times the fleet: every pool times `k`, rounded to whole NVLink
    /// domains (at least one). Contracts, demand, arrivals and backlogs stay as they are, so a
    /// fleet too small for the reservations sold on it is refused (a provider cannot sell
    /// GPUs it does not have) rather than run with smaller contracts.
    ///
    /// `k` must be finite and > 0 and the scaled fleet at most [`MAX_FLEET_GPUS`] GPUs;
    /// otherwise the scenario is left as it was.
    pub fn scale_fleet(&mut self, k: f64) -> Result<(), ScaleError> {
        let mut out = self.clone();
        out.scale_pools(k)?;
        for t in 0..out.gpu_types.len() {
            let reserved: u64 = out.tenants.iter().map(|tn| tn.reserved[t] as u64).sum();
            let gpus = out.type_gpus(t) as u64;
            if reserved > gpus {
                return Err(ScaleError::ReservationsExceedFleet {
                    what: format!("{} GPUs", out.gpu_types[t].name),
                    reserved,
                    gpus,
                });
            }
        }
        let reserved: u64 = out
            .tenants
            .iter()
            .map(|tn| tn.reserved_total() as u64)
            .sum();
        let gpus = out.total_gpus();
        if reserved > gpus {
            return Err(ScaleError::ReservationsExceedFleet {
                what: "GPUs".into(),
                reserved,
                gpus,
            });
        }
        *self = out;
        Ok(())
    }

    /// Every pool times `k`, rounded to whole NVLink domains (at least one).
    fn scale_pools(&mut self, k: f64) -> Result<(), ScaleError> {
        if !(k.is_finite() && k > 0.0) {
            return Err(ScaleError::NotPositive(k));
        }
        let gpus = self.total_gpus();
        let max_k = MAX_FLEET_GPUS as f64 / gpus.max(1) as f64;
        let scaled: Vec<f64> = (self.pools.iter())
            .map(|pl| {
                let d = self.gpu_types[pl.gpu_type].nvlink_domain_gpus as f64;
                (pl.gpus as f64 * k / d).round().max(1.0) * d
            })
            .collect();
        let total: f64 = scaled.iter().sum();
        if total > MAX_FLEET_GPUS as f64 {
            return Err(ScaleError::FleetTooLarge {
                k,
                gpus,
                scaled: total,
                max_k,
            });
        }
        for (pl, g) in self.pools.iter_mut().zip(scaled) {
            // At most MAX_FLEET_GPUS: exact in u32.
            pl.gpus = g as u32;
        }
        self.recount_pools();
        Ok(())
    }

    /// Multiplies every switch cost by `k`: tenant switch, model-load time (fixed part and
    /// weight transfer) and training restart. Saturating: a scaled cost is at most
    /// [`MAX_DURATION`](crate::units::MAX_DURATION) whatever `k` (and 0 for `k` <= 0 or NaN),
    /// so sums of costs and times cannot overflow.
    pub fn scale_switch_costs(&mut self, k: f64) {
        let scale = |t: Time| {
            crate::units::from_secs_f64(crate::units::secs(t) * k).min(crate::units::MAX_DURATION)
        };
        for g in &mut self.gpu_types {
            g.tenant_switch = scale(g.tenant_switch);
            g.model_load_fixed = scale(g.model_load_fixed);
            g.model_load_gb_per_s = if k > 0.0 {
                g.model_load_gb_per_s / k
            } else {
                f64::INFINITY
            };
            g.training_restart = scale(g.training_restart);
        }
        self.switch_cost_scale *= k;
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
    load_with(path, &LoadOptions::default())
}

/// Reads and validates a scenario file, reading its traces as `opts` say.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Scenario, ConfigError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        ConfigError::Invalid {
            file: file.clone(),
            line,
            col,
            field: "(text)".into(),
            message: "the file is not valid UTF-8 here (TOML is UTF-8 text)".into(),
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    parse_with(text, &file, opts)
}

/// Parses and validates scenario text; `file` is the name used in error messages and the
/// place relative trace paths start from.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ConfigError> {
    parse_with(text, file, &LoadOptions::default())
}

/// [`parse`] with options for reading traces.
pub fn parse_with(text: &str, file: &str, opts: &LoadOptions) -> Result<Scenario, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let mut field = path_at(text, span.clone()).to_string();
        let message = e.message().trim().to_string();
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            field = if field.is_empty() {
                missing.to_string()
            } else {
                format!("{field}.{missing}")
            };
        }
        let (line, col) = line_col(text, span.start);
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            col,
            field: if field.is_empty() {
                "(top level)".into()
            } else {
                field
            },
            message,
        }
    })?;
    let config_dir = Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let trace_base = match (&opts.trace_dir, &raw.simulation.trace_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => config_dir.join(d),
        (None, None) => config_dir,
    };
    let ctx = Ctx {
        text,
        file,
        trace_base,
        lenient: opts.lenient,
        horizon: opts.horizon,
    };
    ctx.build(raw)
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
    trace_base: PathBuf,
    lenient: bool,
    horizon: Option<Time>,
}

fn p() -> KeyPath {
    KeyPath::default()
}

impl Ctx<'_> {
    fn err(&self, path: KeyPath, message: impl Into<String>) -> ConfigError {
        let Located {
            file,
            line,
            col,
            field,
        } = self.located(path);
        ConfigError::Invalid {
            file,
            line,
            col,
            field,
            message: message.into(),
        }
    }

    fn check(
        &self,
        ok: bool,
        path: KeyPath,
        message: impl Into<String>,
    ) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(self.err(path, message))
        }
    }

    /// `value` must be one of `known`; the error names them (`what`: "policy", ...).
    /// Where `path` is in the file (its start, or line 1 when it is absent).
    fn located(&self, path: KeyPath) -> Located {
        let (line, col) =
            span_of(self.text, &path).map_or((1, 1), |s| line_col(self.text, s.start));
        Located {
            file: self.file.to_string(),
            line,
            col,
            field: path.to_string(),
        }
    }

    fn one_of(
        &self,
        value: &str,
        known: &[&str],
        path: KeyPath,
        what: &str,
    ) -> Result<(), ConfigError> {
        self.check(
            known.contains(&value),
            path,
            format!("unknown {what} `{value}` (known: {})", known.join(", ")),
        )
    }

    /// `v` in `[0, max]`.
    fn non_negative(&self, v: f64, max: f64, path: KeyPath) -> Result<(), ConfigError> {
        self.check(
            v.is_finite() && (0.0..=max).contains(&v),
            path,
            format!("must be a number from 0 to {max}, got {}", shown(v)),
        )
    }

    /// `v` in `(0, max]`.
    fn positive(&self, v: f64, max: f64, path: KeyPath) -> Result<(), ConfigError> {
        self.check(
            v.is_finite() && v > 0.0 && v <= max,
            path,
            format!(
                "must be a number greater than 0 and at most {max}, got {}",
                shown(v)
            ),
        )
    }

    /// A count in `[min, max]`.
    fn count(&self, v: u32, min: u32, max: u32, path: KeyPath) -> Result<(), ConfigError> {
        self.check(
            (min..=max).contains(&v),
            path,
            format!("must be a whole number from {min} to {max}, got {v}"),
        )
    }

    fn build(&self, raw: RawConfig) -> Result<Scenario, ConfigError> {
        let sim = &raw.simulation;
        let sp = p().key("simulation");
        let horizon = self.horizon.unwrap_or(sim.horizon.0);
        self.check(
            horizon > 0,
            sp.clone().key("horizon"),
            "the horizon must be longer than 0",
        )?;
        self.check(
            horizon <= L::MAX_HORIZON,
            sp.clone().key("horizon"),
            format!(
                "the horizon may be at most 100 years ({} h), got {} h",
                L::MAX_HORIZON / crate::units::US_PER_HOUR,
                horizon / crate::units::US_PER_HOUR
            ),
        )?;
        self.check(
            sim.autoscale_interval.0 >= L::MIN_AUTOSCALE_INTERVAL,
            sp.clone().key("autoscale_interval"),
            "must be at least 1s",
        )?;

        // Policy names are checked against the build's policies by the caller
        // (`Scenario::check_policies`): this layer does not know them.
        let mut policy_names = vec![(sim.policy.clone(), self.located(sp.clone().key("policy")))];
        for (i, name) in sim.compare.iter().enumerate() {
            let at = sp.clone().key("compare").index(i);
            policy_names.push((name.clone(), self.located(at.clone())));
            self.check(
                !sim.compare[..i].contains(name),
                sp.clone().key("compare").index(i),
                format!("`{name}` is named twice; name each policy once"),
            )?;
        }

        let gpu_types = self.gpu_types(&raw)?;
        let names: Vec<&str> = gpu_types.iter().map(|g| g.name.as_str()).collect();
        let type_of = |name: &str, path: KeyPath| -> Result<TypeId, ConfigError> {
            names.iter().position(|n| *n == name).ok_or_else(|| {
                self.err(
                    path,
                    format!("unknown GPU type `{name}` (defined: {})", names.join(", ")),
                )
            })
        };

        self.check(
            !raw.pools.is_empty() || raw.inventory.is_some(),
            p().key("pools"),
            "the fleet needs at least one pool (or an [inventory])",
        )?;
        let mut traces = Vec::new();
        let mut pools = Vec::new();
        for (i, rp) in raw.pools.iter().enumerate() {
            let pp = p().key("pools").index(i);
            let t = type_of(&rp.gpu_type, pp.clone().key("gpu_type"))?;
            let g = &gpu_types[t];
            self.check(
                rp.gpus > 0 && rp.gpus % g.nvlink_domain_gpus == 0,
                pp.key("gpus"),
                format!(
                    "must be a positive multiple of the {} NVLink domain ({} GPUs), got {}",
                    g.name, g.nvlink_domain_gpus, rp.gpus
                ),
            )?;
            pools.push(Pool {
                gpu_type: t,
                gpus: rp.gpus,
            });
        }
        if let Some(inv) = &raw.inventory {
            let (more, u) = self.inventory(inv, &gpu_types)?;
            pools.extend(more);
            traces.push(u);
        }
        let fleet: u64 = pools.iter().map(|pl| pl.gpus as u64).sum();
        if fleet > MAX_FLEET_GPUS {
            let configured: u64 = raw.pools.iter().map(|r| r.gpus as u64).sum();
            let path = if raw.inventory.is_some() && configured <= MAX_FLEET_GPUS {
                p().key("inventory")
            } else {
                p().key("pools")
            };
            return Err(self.err(
                path,
                format!(
                    "the pools hold {fleet} GPUs in all; a fleet may have at most {MAX_FLEET_GPUS}"
                ),
            ));
        }
        let mut capacity = vec![0u32; gpu_types.len()];
        for pl in &pools {
            capacity[pl.gpu_type] += pl.gpus;
        }

        let tenants = self.tenants(&raw, &gpu_types, &capacity)?;
        let reference = self.work_reference(&raw, &gpu_types)?;
        let economics = self.economics(&raw)?;
        let tenant_of = |name: &str, path: KeyPath| -> Result<usize, ConfigError> {
            tenants.iter().position(|t| t.name == name).ok_or_else(|| {
                let known: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
                self.err(
                    path,
                    format!("unknown tenant `{name}` (defined: {})", known.join(", ")),
                )
            })
        };

        // Each workload's throughput on the work reference type.
        let work_rate = |name: &str, tput: &[Option<f64>], given: Option<f64>, at: &KeyPath| {
            self.work_rate(name, tput, given, at, reference, &gpu_types)
        };
        let mut workloads = Vec::new();
        let mut seen = BTreeMap::new();
        let mut name_ok = |name: &str, path: KeyPath| -> Result<(), ConfigError> {
            self.check(
                !name.trim().is_empty(),
                path.clone(),
                "a workload needs a name",
            )?;
            if let Some(first) = seen.insert(name.to_string(), path.to_string()) {
                return Err(self.err(
                    path,
                    format!("workload name `{name}` is already used by {first}"),
                ));
            }
            Ok(())
        };
        let rates =
            |map: &BTreeMap<String, f64>, path: KeyPath| -> Result<Vec<Option<f64>>, ConfigError> {
                self.check(
                    !map.is_empty(),
                    path.clone(),
                    "give tokens/s per GPU for at least one GPU type",
                )?;
                let mut v = vec![None; gpu_types.len()];
                for (k, &r) in map {
                    let t = type_of(k, path.clone().key(k))?;
                    self.positive(r, L::MAX_TOKENS_PER_S_PER_GPU, path.clone().key(k))?;
                    v[t] = Some(r);
                }
                Ok(v)
            };

        for (i, r) in raw.training.iter().enumerate() {
            let wp = p().key("training").index(i);
            name_ok(&r.name, wp.clone().key("name"))?;
            let tenant = tenant_of(&r.tenant, wp.clone().key("tenant"))?;
            self.billable(&tenants[tenant], Kind::Training, &wp)?;
            let spot = tenants[tenant].contract == Contract::Spot;
            let tp = wp.clone().key("trace");
            if let Some(t) = &r.trace {
                let known = &traces::TRAINING_READERS;
                let path = tp.clone().key("reader");
                self.one_of(&t.reader, known, path, "training trace reader")?;
            }
            let gavel = r.trace.as_ref().filter(|t| t.reader == "gavel");
            let tput = if gavel.is_some() {
                self.check(
                    r.tokens_per_s_per_gpu.is_empty(),
                    wp.clone().key("tokens_per_s_per_gpu"),
                    "a Gavel trace brings its own throughputs (per job type, from `throughputs`)",
                )?;
                self.check(
                    r.arrivals_per_hour == 0.0 && r.jobs.is_empty(),
                    wp.clone().key("trace"),
                    "a Gavel trace section holds only the trace (no random arrivals or explicit jobs)",
                )?;
                vec![]
            } else {
                rates(
                    &r.tokens_per_s_per_gpu,
                    wp.clone().key("tokens_per_s_per_gpu"),
                )?
            };
            self.check(
                r.checkpoint_interval.0 > 0,
                wp.clone().key("checkpoint_interval"),
                "must be longer than 0",
            )?;
            self.non_negative(
                r.arrivals_per_hour,
                L::MAX_ARRIVALS_PER_HOUR,
                wp.clone().key("arrivals_per_hour"),
            )?;
            self.non_negative(r.tokens_cv, L::MAX_TOKENS_CV, wp.clone().key("tokens_cv"))?;
            self.check(
                r.arrivals_per_hour == 0.0 || !r.sizes.is_empty(),
                wp.clone().key("sizes"),
                "random arrivals need a job-size mix: sizes = [{ gpus = 8, weight = 1, tokens = \"10B\" }]",
            )?;
            let mut sizes = Vec::new();
            for (j, s) in r.sizes.iter().enumerate() {
                let sp = wp.clone().key("sizes").index(j);
                self.check(
                    s.gpus >= 1,
                    sp.clone().key("gpus"),
                    "a job needs at least 1 GPU",
                )?;
                self.count(s.gpus, 1, L::MAX_JOB_GPUS, sp.clone().key("gpus"))?;
                self.positive(s.weight, L::MAX_SIZE_WEIGHT, sp.clone().key("weight"))?;
                self.positive(s.tokens.0, L::MAX_JOB_TOKENS, sp.clone().key("tokens"))?;
                sizes.push(JobSize {
                    gpus: s.gpus,
                    weight: s.weight,
                    tokens: s.tokens.0,
                });
            }
            let exponential_tokens = match r.tokens_distribution.as_deref() {
                None | Some("lognormal") => false,
                Some("exponential") => true,
                Some(other) => {
                    return Err(self.err(
                        wp.clone().key("tokens_distribution"),
                        format!(
                            "unknown distribution `{other}` (use \"lognormal\" or \"exponential\")"
                        ),
                    ));
                }
            };
            let mut jobs = Vec::new();
            for (j, s) in r.jobs.iter().enumerate() {
                let jp = wp.clone().key("jobs").index(j);
                self.check(
                    s.gpus >= 1,
                    jp.clone().key("gpus"),
                    "a job needs at least 1 GPU",
                )?;
                self.count(s.gpus, 1, L::MAX_JOB_GPUS, jp.clone().key("gpus"))?;
                self.positive(s.tokens.0, L::MAX_JOB_TOKENS, jp.clone().key("tokens"))?;
                jobs.push(ExplicitJob {
                    at: s.at.0,
                    gpus: s.gpus,
                    tokens: s.tokens.0,
                });
            }
            let training = |name: String, tput: Vec<Option<f64>>, jobs: Vec<ExplicitJob>| {
                let work_rate = work_rate(&name, &tput, r.reference_tokens_per_s_per_gpu, &wp)?;
                Ok::<_, ConfigError>(Workload {
                    name,
                    tenant,
                    priority: r.priority.unwrap_or(tenants[tenant].priority),
                    preemptible: r.preemptible || spot,
                    tokens_per_s_per_gpu: tput,
                    replica_gpus: vec![],
                    work_rate,
                    spec: Spec::Training(TrainingSpec {
                        exponential_tokens,
                        checkpoint_interval: r.checkpoint_interval.0,
                        wide_nvlink: r.wide_nvlink,
                        arrivals_per_hour: r.arrivals_per_hour,
                        sizes: sizes.clone(),
                        tokens_cv: r.tokens_cv,
                        jobs,
                    }),
                })
            };
            match &r.trace {
                Some(t) if t.reader == "gavel" => {
                    let (per_type, u) = self.gavel_workloads(t, &tp, &gpu_types, horizon)?;
                    traces.push(u);
                    for (job_type, tput, jobs) in per_type {
                        let name = format!("{}/{job_type}", r.name);
                        name_ok(&name, wp.clone().key("name"))?;
                        workloads.push(training(name, tput, jobs)?);
                    }
                }
                Some(t) => {
                    let (more, u) = self.trace_jobs(t, &tp, &tput, &gpu_types, horizon)?;
                    traces.push(u);
                    jobs.extend(more);
                    workloads.push(training(r.name.clone(), tput, jobs)?);
                }
                None => workloads.push(training(r.name.clone(), tput, jobs)?),
            }
        }

        for (i, r) in raw.inference.iter().enumerate() {
            let wp = p().key("inference").index(i);
            name_ok(&r.name, wp.clone().key("name"))?;
            let tenant = tenant_of(&r.tenant, wp.clone().key("tenant"))?;
            self.billable(&tenants[tenant], Kind::Inference, &wp)?;
            let spot = tenants[tenant].contract == Contract::Spot;
            let (slo, class_rates) = self.slo(r, &wp, &gpu_types)?;
            let tput = match class_rates {
                Some(v) => v,
                None => rates(
                    &r.tokens_per_s_per_gpu,
                    wp.clone().key("tokens_per_s_per_gpu"),
                )?,
            };
            let replica = self.replicas(
                &gpu_types,
                &tput,
                r.model_gb,
                r.hbm_headroom,
                &r.gpus_per_replica,
                &wp,
            )?;
            let (demand, replay, prompt_token_cost) = match (&r.trace, r.demand_tokens_per_s) {
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        wp.clone().key("demand_tokens_per_s"),
                        "give either demand_tokens_per_s or a trace, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.err(
                        wp.clone().key("demand_tokens_per_s"),
                        "give the demand: demand_tokens_per_s, or a [inference.trace] to replay",
                    ));
                }
                (None, Some(d)) => {
                    self.non_negative(
                        d,
                        L::MAX_DEMAND_TOKENS_PER_S,
                        wp.clone().key("demand_tokens_per_s"),
                    )?;
                    (d, None, 0.0)
                }
                (Some(t), None) => {
                    let (replay, cost, u) = self.inference_replay(t, &wp.clone().key("trace"))?;
                    traces.push(u);
                    (0.0, Some(std::sync::Arc::new(replay)), cost)
                }
            };
            self.check(
                r.target_utilization > 0.0 && r.target_utilization <= 1.0,
                wp.clone().key("target_utilization"),
                format!("must be in (0, 1], got {}", r.target_utilization),
            )?;
            let diurnal = match &r.diurnal {
                None => None,
                Some(d) => {
                    let dp = wp.clone().key("diurnal");
                    self.positive(d.trough, L::MAX_DEMAND_FACTOR, dp.clone().key("trough"))?;
                    self.positive(d.peak, L::MAX_DEMAND_FACTOR, dp.clone().key("peak"))?;
                    self.check(
                        d.peak >= d.trough,
                        dp.clone().key("peak"),
                        "peak must be >= trough",
                    )?;
                    self.check(
                        (0.0..24.0).contains(&d.peak_hour),
                        dp.clone().key("peak_hour"),
                        "must be an hour of the day in [0, 24)",
                    )?;
                    self.positive(d.weekend, L::MAX_DEMAND_FACTOR, dp.key("weekend"))?;
                    Some(Diurnal {
                        peak: d.peak,
                        trough: d.trough,
                        peak_hour: d.peak_hour,
                        weekend: d.weekend,
                    })
                }
            };
            self.count(
                r.min_replicas,
                0,
                L::MAX_MIN_REPLICAS,
                wp.clone().key("min_replicas"),
            )?;
            let mut changes = Vec::new();
            for (j, c) in r.demand_changes.iter().enumerate() {
                self.non_negative(
                    c.factor,
                    L::MAX_DEMAND_FACTOR,
                    wp.clone().key("demand_changes").index(j).key("factor"),
                )?;
                changes.push(DemandChange {
                    at: c.at.0,
                    factor: c.factor,
                });
            }
            changes.sort_by_key(|c| c.at);
            workloads.push(Workload {
                name: r.name.clone(),
                tenant,
                priority: r.priority.unwrap_or(tenants[tenant].priority),
                preemptible: spot,
                work_rate: work_rate(&r.name, &tput, r.reference_tokens_per_s_per_gpu, &wp)?,
                tokens_per_s_per_gpu: tput,
                replica_gpus: replica,
                spec: Spec::Inference(InferenceSpec {
                    model_gb: r.model_gb,
                    demand_tokens_per_s: demand,
                    replay,
                    prompt_token_cost,
                    demand_scale: 1.0,
                    diurnal,
                    demand_changes: changes,
                    target_utilization: r.target_utilization,
                    min_replicas: r.min_replicas,
                    slo,
                    autoscaler: self.autoscaler(r.autoscaler.as_ref(), &wp, r.min_replicas)?,
                }),
            });
        }

        for (i, r) in raw.batch.iter().enumerate() {
            let wp = p().key("batch").index(i);
            name_ok(&r.name, wp.clone().key("name"))?;
            let tenant = tenant_of(&r.tenant, wp.clone().key("tenant"))?;
            let spot = tenants[tenant].contract == Contract::Spot;
            let tput = rates(
                &r.tokens_per_s_per_gpu,
                wp.clone().key("tokens_per_s_per_gpu"),
            )?;
            let replica = self.replicas(
                &gpu_types,
                &tput,
                r.model_gb,
                r.hbm_headroom,
                &r.gpus_per_replica,
                &wp,
            )?;
            self.non_negative(
                r.arrivals_per_hour,
                L::MAX_ARRIVALS_PER_HOUR,
                wp.clone().key("arrivals_per_hour"),
            )?;
            self.positive(
                r.job_tokens.0,
                L::MAX_JOB_TOKENS,
                wp.clone().key("job_tokens"),
            )?;
            self.non_negative(r.tokens_cv, L::MAX_TOKENS_CV, wp.clone().key("tokens_cv"))?;
            self.count(
                r.backlog_jobs,
                0,
                L::MAX_BACKLOG_JOBS,
                wp.clone().key("backlog_jobs"),
            )?;
            workloads.push(Workload {
                name: r.name.clone(),
                tenant,
                priority: r.priority.unwrap_or(tenants[tenant].priority),
                preemptible: r.preemptible || spot,
                work_rate: work_rate(&r.name, &tput, r.reference_tokens_per_s_per_gpu, &wp)?,
                tokens_per_s_per_gpu: tput,
                replica_gpus: replica,
                spec: Spec::Batch(BatchSpec {
                    model_gb: r.model_gb,
                    arrivals_per_hour: r.arrivals_per_hour,
                    job_tokens: r.job_tokens.0,
                    tokens_cv: r.tokens_cv,
                    backlog_jobs: r.backlog_jobs,
                }),
            });
        }

        // Jobs over the horizon (random arrivals at their mean), which the run holds records
        // and figures for: bounded whatever the rates.
        let hours = horizon as f64 / crate::units::US_PER_HOUR as f64;
        let expected = |w: &Workload| match &w.spec {
            Spec::Training(s) => s.arrivals_per_hour * hours + s.jobs.len() as f64,
            Spec::Batch(b) => b.arrivals_per_hour * hours + b.backlog_jobs as f64,
            Spec::Inference(_) => 0.0,
        };
        let total: f64 = workloads.iter().map(expected).sum();
        if total > L::MAX_JOBS {
            let (i, w) = (workloads.iter().enumerate())
                .max_by(|a, b| expected(a.1).total_cmp(&expected(b.1)))
                .expect("some workload has jobs");
            let section = match w.spec {
                Spec::Training(_) => "training",
                Spec::Batch(_) => "batch",
                Spec::Inference(_) => "inference",
            };
            let nth = workloads[..i]
                .iter()
                .filter(|v| std::mem::discriminant(&v.spec) == std::mem::discriminant(&w.spec))
                .count();
            return Err(self.err(
                p().key(section).index(nth).key("arrivals_per_hour"),
                format!(
                    "the workloads would submit about {total:.0} jobs over the {hours:.0} h horizon (`{}` the most, {:.0}); a run may submit at most {:.0}: lower the rates, the backlogs or the horizon",
                    w.name,
                    expected(w),
                    L::MAX_JOBS
                ),
            ));
        }

        Ok(Scenario {
            name: raw.name.clone().unwrap_or_else(|| {
                Path::new(self.file)
                    .file_stem()
                    .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
            }),
            horizon,
            seed: sim.seed,
            policy: sim.policy.clone(),
            compare: sim.compare.clone(),
            policy_names,
            switch_cost_scale: 1.0,
            autoscale_interval: sim.autoscale_interval.0,
            failures: sim.failures,
            preempt_exempt: sim.preempt_exempt.0,
            migration: sim.migration,
            economics,
            work_reference: reference,
            type_gpus: capacity.clone(),
            gpu_types,
            pools,
            tenants,
            workloads,
            traces,
        })
    }

    fn gpu_types(&self, raw: &RawConfig) -> Result<Vec<GpuType>, ConfigError> {
        self.check(
            !raw.gpu_types.is_empty(),
            p().key("gpu_types"),
            "define at least one GPU type",
        )?;
        let mut out = Vec::new();
        for (name, g) in &raw.gpu_types {
            let gp = p().key("gpu_types").key(name);
            self.positive(g.hbm_gb, L::MAX_HBM_GB, gp.clone().key("hbm_gb"))?;
            self.positive(g.tdp_w, L::MAX_TDP_W, gp.clone().key("tdp_w"))?;
            self.count(
                g.node_gpus,
                1,
                L::MAX_NODE_GPUS,
                gp.clone().key("node_gpus"),
            )?;
            self.check(
                g.node_gpus >= 1,
                gp.clone().key("node_gpus"),
                "a node holds at least 1 GPU",
            )?;
            self.check(
                g.nvlink_domain_gpus >= g.node_gpus && g.nvlink_domain_gpus % g.node_gpus == 0,
                gp.clone().key("nvlink_domain_gpus"),
                format!("must be a multiple of node_gpus ({})", g.node_gpus),
            )?;
            self.non_negative(
                g.price_usd_per_gpu_hour,
                L::MAX_USD_PER_GPU_HOUR,
                gp.clone().key("price_usd_per_gpu_hour"),
            )?;
            for (v, key) in [
                (g.on_demand_usd_per_gpu_hour, "on_demand_usd_per_gpu_hour"),
                (g.spot_usd_per_gpu_hour, "spot_usd_per_gpu_hour"),
            ] {
                if let Some(v) = v {
                    self.non_negative(v, L::MAX_USD_PER_GPU_HOUR, gp.clone().key(key))?;
                }
            }
            self.non_negative(
                g.capital_usd_per_gpu_hour,
                L::MAX_USD_PER_GPU_HOUR,
                gp.clone().key("capital_usd_per_gpu_hour"),
            )?;
            for (v, key) in [
                (g.power.busy, "busy"),
                (g.power.decode, "decode"),
                (g.power.idle, "idle"),
                (g.power.switching, "switching"),
            ] {
                self.check(
                    v.is_finite() && (0.0..=1.0).contains(&v),
                    gp.clone().key("power").key(key),
                    format!("a share of TDP must be in [0, 1], got {v}"),
                )?;
            }
            self.non_negative(
                g.host_w_per_gpu,
                L::MAX_HOST_W_PER_GPU,
                gp.clone().key("host_w_per_gpu"),
            )?;
            self.check(
                g.pue.is_finite() && (1.0..=L::MAX_PUE).contains(&g.pue),
                gp.clone().key("pue"),
                format!("must be in [1, {}], got {}", L::MAX_PUE, g.pue),
            )?;
            self.positive(
                g.model_load_gb_per_s,
                L::MAX_LOAD_GB_PER_S,
                gp.clone().key("model_load_gb_per_s"),
            )?;
            self.non_negative(
                g.failures_per_gpu_hour,
                L::MAX_FAILURES_PER_GPU_HOUR,
                gp.clone().key("failures_per_gpu_hour"),
            )?;
            self.check(
                g.failures_per_gpu_hour == 0.0 || g.repair_time.0 > 0,
                gp.clone().key("repair_time"),
                "must be longer than 0 when failures are modelled",
            )?;
            out.push(GpuType {
                name: name.clone(),
                hbm_gb: g.hbm_gb,
                tdp_w: g.tdp_w,
                node_gpus: g.node_gpus,
                nvlink_domain_gpus: g.nvlink_domain_gpus,
                price_usd_per_gpu_hour: g.price_usd_per_gpu_hour,
                on_demand_usd_per_gpu_hour: g.on_demand_usd_per_gpu_hour,
                spot_usd_per_gpu_hour: g.spot_usd_per_gpu_hour,
                capital_usd_per_gpu_hour: g.capital_usd_per_gpu_hour,
                power: crate::fleet::types::Power {
                    tdp_w: g.tdp_w,
                    busy: g.power.busy,
                    decode: g.power.decode,
                    idle: g.power.idle,
                    switching: g.power.switching,
                    host_w: g.host_w_per_gpu,
                    pue: g.pue,
                },
                tenant_switch: g.tenant_switch.0,
                model_load_fixed: g.model_load_fixed.0,
                model_load_gb_per_s: g.model_load_gb_per_s,
                training_restart: g.training_restart.0,
                failures_per_gpu_hour: g.failures_per_gpu_hour,
                repair_time: g.repair_time.0,
            });
        }
        Ok(out)
    }

    fn tenants(
        &self,
        raw: &RawConfig,
        types: &[GpuType],
        capacity: &[u32],
    ) -> Result<Vec<Tenant>, ConfigError> {
        self.check(
            !raw.tenants.is_empty(),
            p().key("tenants"),
            "define at least one tenant",
        )?;
        let mut names = BTreeSet::new();
        let mut reserved_sum = vec![0u64; types.len()];
        let mut out = Vec::new();
        for (i, r) in raw.tenants.iter().enumerate() {
            let tp = p().key("tenants").index(i);
            self.check(
                !r.name.trim().is_empty(),
                tp.clone().key("name"),
                "a tenant needs a name",
            )?;
            self.check(
                names.insert(r.name.clone()),
                tp.clone().key("name"),
                format!("tenant `{}` is defined twice", r.name),
            )?;
            let mut reserved = vec![0u32; types.len()];
            let mut any = 0;
            for (k, &n) in &r.reserved_gpus {
                if k == "any" {
                    any = n;
                    continue;
                }
                let t = types.iter().position(|g| &g.name == k).ok_or_else(|| {
                    self.err(
                        tp.clone().key("reserved_gpus").key(k),
                        format!("unknown GPU type `{k}` (use a type name or `any`)"),
                    )
                })?;
                reserved[t] = n;
                reserved_sum[t] += n as u64;
                if reserved_sum[t] > capacity[t] as u64 {
                    return Err(self.err(
                        tp.clone().key("reserved_gpus").key(k),
                        format!(
                            "tenants reserve {} {k} GPUs in all, but the pools hold {}",
                            reserved_sum[t], capacity[t]
                        ),
                    ));
                }
            }
            let contract = self.contract(r, &tp, types, capacity)?;
            out.push(Tenant {
                name: r.name.clone(),
                priority: r.priority,
                reserved,
                reserved_any: any,
                contract,
            });
        }
        let total: u64 = capacity.iter().map(|&c| c as u64).sum();
        let reserved: u64 = out.iter().map(|t| t.reserved_total() as u64).sum();
        self.check(
            reserved <= total,
            p().key("tenants"),
            format!("tenants reserve {reserved} GPUs in all, but the fleet has {total}"),
        )?;
        Ok(out)
    }

    /// GPUs per replica per type: explicit, or the HBM minimum.
    fn replicas(
        &self,
        types: &[GpuType],
        tput: &[Option<f64>],
        model_gb: f64,
        headroom: f64,
        explicit: &BTreeMap<String, u32>,
        wp: &KeyPath,
    ) -> Result<Vec<Option<u32>>, ConfigError> {
        self.positive(model_gb, L::MAX_MODEL_GB, wp.clone().key("model_gb"))?;
        self.check(
            (0.0..1.0).contains(&headroom),
            wp.clone().key("hbm_headroom"),
            "must be in [0, 1)",
        )?;
        let mut out = vec![None; types.len()];
        for (k, &n) in explicit {
            let kp = wp.clone().key("gpus_per_replica").key(k);
            let t = types
                .iter()
                .position(|g| &g.name == k)
                .ok_or_else(|| self.err(kp.clone(), format!("unknown GPU type `{k}`")))?;
            self.check(
                tput[t].is_some(),
                kp.clone(),
                format!("no tokens_per_s_per_gpu is given for `{k}`"),
            )?;
            self.check(
                (1..=crate::workload::MAX_REPLICA_GPUS).contains(&n),
                kp.clone(),
                format!(
                    "must be between 1 and {}",
                    crate::workload::MAX_REPLICA_GPUS
                ),
            )?;
            let node = types[t].node_gpus;
            self.check(
                n <= node || n % node == 0,
                kp.clone(),
                format!("a replica wider than a node takes whole nodes: use a multiple of {node}"),
            )?;
            self.check(
                n as f64 * types[t].hbm_gb >= model_gb,
                kp,
                format!(
                    "{n} x {} GB of HBM cannot hold a {model_gb} GB model",
                    types[t].hbm_gb
                ),
            )?;
            out[t] = Some(n);
        }
        for (t, g) in types.iter().enumerate() {
            if tput[t].is_some() && out[t].is_none() {
                out[t] = min_replica_gpus(model_gb, headroom, g.hbm_gb, g.node_gpus);
            }
        }
        self.check(
            out.iter().any(|o| o.is_some()),
            wp.clone().key("model_gb"),
            format!(
                "a {model_gb} GB model needs more than {} GPUs per replica on every GPU type it \
                 has a throughput for",
                crate::workload::MAX_REPLICA_GPUS
            ),
        )?;
        Ok(out)
    }
}
