//! The `simulate` command: loads a scenario, applies command-line overrides, runs it and
//! prints the report (and writes it as JSON with `--json`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use fleetsim::compare;
use fleetsim::config;
use fleetsim::fleet::MAX_FLEET_GPUS;
use fleetsim::policy::{self, POLICIES};
use fleetsim::report;
use fleetsim::sim::Engine;
use fleetsim::sizing;
use fleetsim::units::{Time, US_PER_HOUR, parse_horizon};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

/// mimalloc, with 2 MiB pages (below): at fleet scale the engine reaches at random into
/// hundreds of megabytes (allocations, jobs, queue, per-GPU state), and with 4 KiB pages most
/// of those reaches miss the TLB; on a virtual machine each miss walks two page tables. This
/// took a gigawatt month from 87-89 s to 68 s (BENCHMARKS.md). Results do not depend on it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Largest switch-cost factor `--sweep` accepts (1000 times an 18-minute tenant switch is
/// 300 hours: far past where any policy's advantage is gone).
const MAX_SWEEP_FACTOR: f64 = 1000.0;

/// Simulate a multi-tenant GPU fleet under a placement policy and report utilization,
/// tokens per GPU-hour, switch costs and margin.
#[derive(Parser, Debug)]
#[command(name = "simulate", version, about)]
struct Cli {
    /// Scenario file (TOML), e.g. configs/fleet.toml.
    config: PathBuf,
    /// Placement policy of a single run (or of --seeds N), overriding the config's
    /// `simulation.policy`; not with --compare, --sweep or --policies.
    #[arg(long)]
    policy: Option<String>,
    /// Random seed, overriding the config's `simulation.seed` (a whole number from 0 to
    /// 2^64-1).
    #[arg(long, value_name = "N")]
    seed: Option<String>,
    /// Simulated time span, longer than 0, with a unit right after the number ("7d", "36h",
    /// "1h30m"; units us, ms, s, m, h, d, w; at most 100 years), overriding `simulation.horizon`.
    #[arg(long, value_name = "DUR")]
    horizon: Option<String>,
    /// Also write the report as JSON to this path (with --compare or --sweep: every run and
    /// the summary).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Run several policies on the same demand and print one comparison table (not with
    /// --sweep, which runs several policies itself).
    #[arg(long)]
    compare: bool,
    /// Policies for --compare, --sweep or --seeds N > 1, comma-separated, each once (default:
    /// `simulation.compare` in the config, else every policy; with --seeds alone, the one
    /// policy of the run).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    policies: Vec<String>,
    /// Repeat every run over N seeds (the config's seed and the N-1 following) and report
    /// means with 95 % confidence intervals; N from 1 to 10000 (default 1).
    #[arg(long, value_name = "N")]
    seeds: Option<String>,
    /// With --compare (or --seeds N > 1): also print utilization and tokens per GPU-hour per
    /// GPU type in the table (not with --sweep or --quiet, which print no such table).
    #[arg(long)]
    by_type: bool,
    /// Scale all switch costs by each factor (default 0,0.5,1,2,4,10; each from 0 to 1000, in
    /// increasing order) and report where each pooled policy's advantage over the baseline
    /// disappears.
    #[arg(long, value_delimiter = ',', num_args = 0.., value_name = "SCALES")]
    sweep: Option<Vec<String>>,
    /// Baseline policy of --sweep, or of the savings --size reports (default dedicated); only
    /// with --sweep or --size.
    #[arg(long, value_name = "NAME")]
    baseline: Option<String>,
    /// Scale the fleet and its demand by K (pools, reservations, inference demand, arrival
    /// rates, backlogs), keeping demand per GPU the same: a 10x region is `--scale 10`. K > 0,
    /// and the scaled fleet must have at most 10,000,000 GPUs.
    #[arg(long, value_name = "K")]
    scale: Option<String>,
    /// Scale the fleet only, by K (every pool, in whole NVLink domains, at least one), with
    /// demand and contracts as they are: the same demand on a fleet K times the size. Applied
    /// after --scale. K > 0; a fleet too small for the tenants' reservations is refused.
    #[arg(long, value_name = "K")]
    fleet_scale: Option<String>,
    /// Size the fleet: for each policy (--policies, else simulation.compare, else all), the
    /// smallest --fleet-scale at which every seed's run (--seeds, default 3 here) meets the
    /// targets (--target-slo, --target-train-wait, --target-shortfall); and what each saves
    /// against --baseline (default dedicated); with --sweep, at each switch-cost scale. Not
    /// with --compare, --policy or --fleet-scale.
    #[arg(long)]
    size: bool,
    /// With --size: every service's SLO attainment at least this share, as a fraction or a
    /// percentage (0.99 or 99%; default 99%).
    #[arg(long, value_name = "SHARE")]
    target_slo: Option<String>,
    /// With --size: every tenant's 99th percentile of its training jobs' waits at most this
    /// long, jobs never started counting with their wait so far (default 2h; 0s, the
    /// strictest, for no wait at all).
    #[arg(long, value_name = "DUR")]
    target_train_wait: Option<String>,
    /// With --size: every tenant's guarantee shortfall waiting for GPUs (the shortfall in
    /// tenant switches of GPUs already placed aside) at most this share of its reserved
    /// GPU-hours, as a fraction or a percentage (default 0.1%; 0, the strictest, for none at
    /// all).
    #[arg(long, value_name = "SHARE")]
    target_shortfall: Option<String>,
    /// With --size: the grid of fleet scales searched, its step and largest scale (default
    /// 0.05,4).
    #[arg(long, value_delimiter = ',', value_name = "STEP,MAX")]
    size_grid: Vec<String>,
    /// Let policies move running training jobs to a faster GPU type at their next checkpoint
    /// (sets `simulation.migration`; `heterogeneity_aware` does, when the time saved exceeds
    /// the restart and a tenant switch).
    #[arg(long)]
    migration: bool,
    /// Folder that the config's trace files are relative to, overriding
    /// `simulation.trace_dir` (e.g. where you downloaded the public traces).
    #[arg(long, value_name = "DIR")]
    trace_dir: Option<PathBuf>,
    /// Skip bad trace rows and count them in the report, instead of stopping at the first
    /// file that has any.
    #[arg(long)]
    lenient: bool,
    /// Print only the JSON report on stdout (no tables).
    #[arg(long)]
    quiet: bool,
    /// Log what the simulator does on stderr (-v info, -vv debug, -vvv every placement).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    // Transparent huge pages for the allocator's memory, where the kernel leaves them to the
    // program (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`, the usual default).
    // A default only: `MIMALLOC_ALLOW_LARGE_OS_PAGES=0` in the environment turns it off.
    #[cfg(target_os = "linux")]
    // SAFETY: mimalloc's options are not thread-safe; no other thread exists yet.
    unsafe {
        libmimalloc_sys::mi_option_set_enabled_default(
            libmimalloc_sys::mi_option_large_os_pages,
            true,
        );
    }
    let cli = Cli::parse_from(attach_negative_values(std::env::args_os()));
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    if verbose == 0 {
        return;
    }
    let level = match verbose {
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Flags whose value may start with `-`.
const NUMERIC_FLAGS: [&str; 10] = [
    "--seed",
    "--seeds",
    "--scale",
    "--fleet-scale",
    "--sweep",
    "--horizon",
    "--target-slo",
    "--target-train-wait",
    "--target-shortfall",
    "--size-grid",
];

/// `--seeds -1` as `--seeds=-1`: clap reads a word that starts with `-` as a flag, and would
/// say "unexpected argument '-1'"; attached, the value reaches the flag's own check, which says
/// what is accepted. Only for [`NUMERIC_FLAGS`], and only a word that looks like a negative
/// number (`-1`, `-2.5`, `-1,2`, `-inf`, `-1h`); nothing after `--`.
fn attach_negative_values(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(a) = args.next() {
        if a == "--" {
            out.push(a);
            out.extend(args);
            break;
        }
        let negative_next = args.peek().and_then(|n| n.to_str()).is_some_and(|n| {
            n.strip_prefix('-').is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
                    || rest.parse::<f64>().is_ok()
            })
        });
        match a.to_str() {
            Some(flag) if negative_next && NUMERIC_FLAGS.contains(&flag) => {
                let value = args.next().expect("peeked");
                let mut joined = std::ffi::OsString::from(format!("{flag}="));
                joined.push(value);
                out.push(joined);
            }
            _ => out.push(a),
        }
    }
    out
}

/// Most seeds `--seeds` takes.
const MAX_SEEDS: u64 = 10_000;

/// Most runs one invocation makes (seeds x policies x sweep factors): every report is kept
/// for the summary and the JSON.
const MAX_RUNS: u64 = 100_000;

/// The command line's values, checked before the config is read (reading large traces can
/// take a while).
struct Plan {
    horizon: Option<Time>,
    seed: Option<u64>,
    seeds: u64,
    scale: Option<f64>,
    fleet_scale: Option<f64>,
    sweep: Option<Vec<f64>>,
    /// Targets and grid of --size.
    size: Option<(sizing::Targets, sizing::Grid)>,
}

fn plan(cli: &Cli) -> Result<Plan> {
    let horizon = match &cli.horizon {
        Some(h) => {
            let t = parse_horizon(h).map_err(|e| anyhow::anyhow!("--horizon: {e}"))?;
            if t > config::limits::MAX_HORIZON {
                bail!(
                    "--horizon: `{h}` is longer than the 100 years a run may span ({} h)",
                    config::limits::MAX_HORIZON / US_PER_HOUR
                );
            }
            Some(t)
        }
        None => None,
    };
    let seed = match &cli.seed {
        Some(t) => Some(t.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!(
                "--seed must be a whole number from 0 to {}, got `{t}`",
                u64::MAX
            )
        })?),
        None => None,
    };
    let seeds = match &cli.seeds {
        Some(t) => match t.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_SEEDS).contains(&n) => n,
            _ => bail!("--seeds must be a whole number from 1 to {MAX_SEEDS}, got `{t}`"),
        },
        None if cli.size => 3,
        None => 1,
    };
    let scale = (cli.scale.as_deref())
        .map(|t| scale_factor("--scale", t))
        .transpose()?;
    let fleet_scale = (cli.fleet_scale.as_deref())
        .map(|t| scale_factor("--fleet-scale", t))
        .transpose()?;
    let sweep = cli.sweep.as_deref().map(sweep_factors).transpose()?;
    check_modes(cli, seeds)?;
    let size = cli.size.then(|| size_plan(cli)).transpose()?;
    Ok(Plan {
        horizon,
        seed,
        seeds,
        scale,
        fleet_scale,
        sweep,
        size,
    })
}

/// A share given as a fraction (0.99) or a percentage (99%), from 0 to 1.
fn share(flag: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let (num, k) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 0.01),
        None => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1.0).contains(&(x * k)) => Ok(x * k),
        Ok(x) if x.is_finite() && k == 1.0 && (0.0..=100.0).contains(&x) => {
            bail!("{flag} is a fraction from 0 to 1 or a percentage (`{x}%`), got `{text}`")
        }
        _ => bail!(
            "{flag} must be a fraction from 0 to 1 or a percentage from 0% to 100%, got `{text}`"
        ),
    }
}

/// The targets and grid of --size, from their flags and defaults.
fn size_plan(cli: &Cli) -> Result<(sizing::Targets, sizing::Grid)> {
    let mut t = sizing::Targets::default();
    if let Some(x) = &cli.target_slo {
        t.slo_attainment = share("--target-slo", x)?;
    }
    if let Some(x) = &cli.target_shortfall {
        t.shortfall_share = share("--target-shortfall", x)?;
    }
    if let Some(x) = &cli.target_train_wait {
        t.training_wait_p99_hours =
            if x.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
                0.0
            } else {
                let d = fleetsim::units::parse_duration(x)
                    .map_err(|e| anyhow::anyhow!("--target-train-wait: {e}"))?;
                fleetsim::units::hours(d)
            };
    }
    let mut g = sizing::Grid::default();
    match cli.size_grid.as_slice() {
        [] => {}
        [step, max] => {
            let positive = |what: &str, t: &str| match t.trim().parse::<f64>() {
                Ok(k) if k.is_finite() && k > 0.0 => Ok(k),
                _ => Err(anyhow::anyhow!(
                    "--size-grid: the {what} must be a number > 0, got `{t}`"
                )),
            };
            g.step = positive("step", step)?;
            g.max = positive("largest scale", max)?;
            if g.max < g.step {
                bail!("--size-grid: the largest scale ({max}) must be at least the step ({step})");
            }
            let points = g.max / g.step;
            if points > 10_000.0 {
                bail!(
                    "--size-grid: {step},{max} makes {points:.0} scales; at most 10,000 (take a larger step)"
                );
            }
        }
        other => bail!(
            "--size-grid takes a step and a largest scale, e.g. 0.05,4 (got {})",
            other.join(",")
        ),
    }
    Ok((t, g))
}

/// Refuses flags that the mode of the run would ignore, and lists of policies it would
/// misread; the command line otherwise changes nothing silently.
fn check_modes(cli: &Cli, seeds: u64) -> Result<()> {
    let sweep = cli.sweep.is_some();
    let many = cli.compare || sweep || seeds > 1 || cli.size;
    if cli.size {
        for (set, flag, why) in [
            (cli.compare, "--compare", "--size runs each policy itself"),
            (
                cli.fleet_scale.is_some(),
                "--fleet-scale",
                "--size chooses the fleet scale (see --size-grid)",
            ),
            (
                cli.policy.is_some(),
                "--policy",
                "name the policies to size with --policies",
            ),
            (cli.by_type, "--by-type", "--size prints its own table"),
        ] {
            if set {
                bail!("{flag} does not go with --size: {why}");
            }
        }
    } else {
        for (set, flag) in [
            (cli.target_slo.is_some(), "--target-slo"),
            (cli.target_train_wait.is_some(), "--target-train-wait"),
            (cli.target_shortfall.is_some(), "--target-shortfall"),
            (!cli.size_grid.is_empty(), "--size-grid"),
        ] {
            if set {
                bail!("{flag} is a target of --size; without --size nothing would use it");
            }
        }
    }
    if cli.compare && sweep {
        bail!(
            "--compare and --sweep do not go together: --sweep already runs each policy \
             (--policies, else simulation.compare, else all) at every factor"
        );
    }
    if cli.by_type {
        if sweep {
            bail!("--by-type changes only the table of --compare; --sweep prints its own table");
        }
        if !many {
            bail!(
                "--by-type changes only the table of --compare or --seeds N > 1; a single run's \
                 report already has a table per GPU type"
            );
        }
        if cli.quiet {
            bail!(
                "--by-type changes only the printed table, which --quiet leaves out (the JSON \
                 summary always has `by_gpu_type`)"
            );
        }
    }
    if cli.baseline.is_some() && !sweep && !cli.size {
        bail!(
            "--baseline is the baseline of --sweep or --size; without either nothing would use it"
        );
    }
    if !cli.policies.is_empty() && !many {
        bail!(
            "--policies names the policies of --compare, --sweep or --seeds N > 1; for a single \
             run give one with --policy"
        );
    }
    if cli.policy.is_some() && (cli.compare || sweep || !cli.policies.is_empty()) {
        bail!(
            "--policy sets the policy of a single run (or of --seeds N); with --compare, --sweep \
             or --policies name the policies with --policies"
        );
    }
    if let Some(p) = &cli.policy {
        policy::by_name(p).map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
    }
    for (i, p) in cli.policies.iter().enumerate() {
        policy::by_name(p).map_err(|e| anyhow::anyhow!("--policies: {e}"))?;
        if cli.policies[..i].contains(p) {
            bail!("--policies: `{p}` is named twice; name each policy once");
        }
    }
    if let Some(b) = &cli.baseline {
        policy::by_name(b).map_err(|e| anyhow::anyhow!("--baseline: {e}"))?;
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let plan = plan(&cli)?;
    let json_file = cli
        .json
        .as_deref()
        .map(|p| JsonFile::open(p, &cli.config))
        .transpose()?;
    let opts = config::LoadOptions {
        trace_dir: cli.trace_dir.clone(),
        lenient: cli.lenient,
        horizon: plan.horizon,
    };
    let mut sc = fleetsim::load(&cli.config, &opts)?;
    if sc.traces.is_empty() {
        let unused = if cli.trace_dir.is_some() {
            Some("--trace-dir")
        } else if cli.lenient {
            Some("--lenient")
        } else {
            None
        };
        if let Some(flag) = unused {
            bail!(
                "{flag} applies to trace files, and {} reads none",
                cli.config.display()
            );
        }
    }
    for u in &sc.traces {
        if u.skipped_rows > 0 {
            eprintln!(
                "warning: {} ({}): skipped {} bad row(s) (--lenient), counted in the report's `traces`; the first: {}",
                u.file,
                u.section,
                u.skipped_rows,
                u.first_skipped.join("; ")
            );
        }
    }
    if let (Some(k), Some(text)) = (plan.scale, &cli.scale) {
        sc.scale(k)
            .map_err(|e| anyhow::anyhow!("--scale {text}: {e}"))?;
    }
    if let (Some(k), Some(text)) = (plan.fleet_scale, &cli.fleet_scale) {
        sc.scale_fleet(k)
            .map_err(|e| anyhow::anyhow!("--fleet-scale {text}: {e}"))?;
    }
    if let Some(p) = &cli.policy {
        sc.policy = p.clone();
    }
    if cli.migration {
        sc.migration = true;
    }
    if let Some(s) = plan.seed {
        sc.seed = s;
    }
    if cli.compare || plan.sweep.is_some() || plan.seeds > 1 || plan.size.is_some() {
        return run_many(&cli, &plan, &sc, json_file);
    }
    let policy = policy::by_name(&sc.policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(scenario = %sc.name, policy = %sc.policy, gpus = sc.total_gpus(), "starting run");
    let mut engine = Engine::new(sc, policy);
    run_with_progress(&mut engine).context("simulation failed")?;
    let rep = report::build(&engine);
    finite("the report", &rep)?;
    tracing::info!(events = rep.engine_stats.events, "run finished");
    let json = serde_json::to_string_pretty(&rep)? + "\n";
    if let Some(f) = json_file {
        f.finish(&json)?;
    }
    if cli.quiet {
        emit(&json)?;
    } else {
        emit(&report::render(&rep))?;
    }
    Ok(())
}

/// --compare, --seeds and --sweep: many runs of one scenario, in parallel.
fn run_many(
    cli: &Cli,
    plan: &Plan,
    sc: &config::Scenario,
    json_file: Option<JsonFile>,
) -> Result<()> {
    let policies: Vec<String> = if !cli.policies.is_empty() {
        cli.policies.clone()
    } else if cli.compare || plan.sweep.is_some() || plan.size.is_some() {
        if sc.compare.is_empty() {
            POLICIES.iter().map(|s| s.to_string()).collect()
        } else {
            sc.compare.clone()
        }
    } else {
        vec![sc.policy.clone()]
    };
    for p in &policies {
        policy::by_name(p).map_err(|e| anyhow::anyhow!("--policies: {e}"))?;
    }
    let baseline = cli.baseline.as_deref().unwrap_or("dedicated");
    let factors = plan.sweep.as_ref().map_or(1, Vec::len) as u64;
    let runs = plan
        .seeds
        .saturating_mul(policies.len() as u64)
        .saturating_mul(factors);
    if runs > MAX_RUNS {
        bail!(
            "{} seed(s) x {} policies x {factors} sweep factor(s) make {runs} runs; at most {MAX_RUNS} are allowed (lower --seeds or give fewer policies or --sweep factors)",
            plan.seeds,
            policies.len()
        );
    }
    let seeds: Vec<u64> = (0..plan.seeds).map(|i| sc.seed.wrapping_add(i)).collect();
    if let Some((targets, grid)) = &plan.size {
        if !policies.iter().any(|p| p == baseline) && cli.baseline.is_some() {
            bail!(
                "--size: the baseline `{baseline}` is not among the policies sized ({}); add it to --policies",
                policies.join(", ")
            );
        }
        // Each policy's search runs at most its galloping, the smallest allowed size and
        // its bisection, per seed and switch-cost scale.
        let points = (grid.max / grid.step).max(2.0).log2().ceil() as u64;
        let bound = runs.saturating_mul(2 * points + 3);
        if bound > MAX_RUNS {
            bail!(
                "--size: {} seed(s) x {} policies x {factors} switch-cost scale(s) may make up to {bound} runs with this grid; at most {MAX_RUNS} are allowed (lower --seeds, give fewer policies or factors, or a coarser --size-grid)",
                plan.seeds,
                policies.len()
            );
        }
        let bar = runs_bar(None);
        let factors = plan.sweep.clone().unwrap_or_else(|| vec![1.0]);
        let mut sizings = Vec::with_capacity(factors.len());
        for &k in &factors {
            let mut at = sc.clone();
            if k != 1.0 {
                at.scale_switch_costs(k);
            }
            let s = sizing::size_with(&at, &policies, &seeds, targets, grid, baseline, &|| {
                bar.inc(1)
            })
            .with_context(|| match &plan.sweep {
                Some(_) => format!("sizing at switch-cost scale {k} failed"),
                None => "sizing failed".to_string(),
            })?;
            finite("the sizing", &s)?;
            sizings.push(s);
        }
        bar.finish_and_clear();
        if plan.sweep.is_none() {
            let s = &sizings[0];
            write_json(cli, json_file, &serde_json::to_value(s)?)?;
            if !cli.quiet {
                emit(&sizing::render_sizing(s))?;
            }
        } else {
            write_json(cli, json_file, &serde_json::json!({ "sizings": sizings }))?;
            if !cli.quiet {
                emit(&sizing::render_sizing_sweep(&sizings))?;
            }
        }
        return Ok(());
    }
    if let Some(scales) = &plan.sweep {
        if !policies.iter().any(|p| p == baseline) {
            bail!(
                "--sweep: the baseline `{baseline}` is not among the policies run ({}); add it to \
                 --policies or choose another with --baseline",
                policies.join(", ")
            );
        }
        let bar = runs_bar(Some(runs));
        let reports = compare::run_matrix_with(sc, &policies, &seeds, scales, &|| bar.inc(1))
            .context("simulation failed")?;
        bar.finish_and_clear();
        let sw = compare::sweep(&reports, scales, baseline);
        finite("a run's report", &reports)?;
        finite("the sweep", &sw)?;
        write_json(
            cli,
            json_file,
            &serde_json::json!({ "sweep": sw, "runs": reports }),
        )?;
        if !cli.quiet {
            emit(&compare::render_sweep(&sw))?;
        }
        return Ok(());
    }
    let bar = runs_bar(Some(runs));
    let reports = compare::run_matrix_with(sc, &policies, &seeds, &[1.0], &|| bar.inc(1))
        .context("simulation failed")?;
    bar.finish_and_clear();
    let summary = compare::summarize(&reports);
    finite("a run's report", &reports)?;
    finite("the summary", &summary)?;
    write_json(
        cli,
        json_file,
        &serde_json::json!({ "summary": summary, "runs": reports }),
    )?;
    if !cli.quiet {
        emit(&compare::render_comparison(&summary, cli.by_type))?;
    }
    Ok(())
}

/// The factor of `--scale` or `--fleet-scale` (`flag`): a finite number > 0 (the fleet's
/// own bound is checked when scaling).
fn scale_factor(flag: &str, text: &str) -> Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(k) if k.is_finite() && k > 0.0 => Ok(k),
        _ => bail!(
            "{flag} must be a number > 0 (and the scaled fleet at most {MAX_FLEET_GPUS} GPUs), got `{text}`"
        ),
    }
}

/// The factors of `--sweep` (the default ones if none are given): numbers from 0 to
/// [`MAX_SWEEP_FACTOR`], in increasing order.
fn sweep_factors(texts: &[String]) -> Result<Vec<f64>> {
    if texts.is_empty() {
        return Ok(compare::DEFAULT_SCALES.to_vec());
    }
    let mut scales = Vec::with_capacity(texts.len());
    for t in texts {
        match t.trim().parse::<f64>() {
            Ok(k) if (0.0..=MAX_SWEEP_FACTOR).contains(&k) => scales.push(k),
            _ => bail!(
                "--sweep: each factor must be a number from 0 to {MAX_SWEEP_FACTOR}, got `{t}`"
            ),
        }
    }
    if scales.windows(2).any(|w| w[0] >= w[1]) {
        bail!(
            "--sweep: give the factors in increasing order, each once (got {})",
            texts.join(",")
        );
    }
    Ok(scales)
}

/// Refuses output with a number that is not finite (JSON would show it as `null`): the
/// config's ranges are meant to make that impossible, so it is a bug to report.
fn finite<T: serde::Serialize + ?Sized>(what: &str, value: &T) -> Result<()> {
    match report::first_non_finite(value) {
        None => Ok(()),
        Some(field) => bail!(
            "internal error: {what} holds a number that is not finite at `{field}`; nothing was written (please report this with the config)"
        ),
    }
}

fn write_json(cli: &Cli, json_file: Option<JsonFile>, value: &serde_json::Value) -> Result<()> {
    let json = serde_json::to_string_pretty(value)? + "\n";
    if let Some(f) = json_file {
        f.finish(&json)?;
    }
    if cli.quiet {
        emit(&json)?;
    }
    Ok(())
}

/// The `--json` file, opened before the config is read and the run starts (either can take
/// a while), so that a path that cannot be written is reported at once. It is written only
/// at the end: an existing file keeps its contents if the run fails, and a file created for
/// the run is removed again.
struct JsonFile {
    path: PathBuf,
    file: std::fs::File,
    created: bool,
    written: bool,
}

impl JsonFile {
    fn open(path: &Path, config: &Path) -> Result<JsonFile> {
        let shown = path.display();
        if path.is_dir() {
            bail!("--json {shown}: that is a folder; give the path of a file to write");
        }
        let existed = path.exists();
        if existed && same_file(path, config) {
            bail!("--json {shown}: that is the config file; give another path");
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| {
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                match parent {
                    Some(dir) if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() => {
                        anyhow::anyhow!(
                            "--json {shown}: cannot write it: the folder {} does not exist",
                            dir.display()
                        )
                    }
                    _ => anyhow::anyhow!("--json {shown}: cannot write it: {e}"),
                }
            })?;
        Ok(JsonFile {
            path: path.to_path_buf(),
            file,
            created: !existed,
            written: false,
        })
    }

    /// Replaces the file's contents with `text`.
    fn finish(mut self, text: &str) -> Result<()> {
        use std::io::{Seek, Write};
        let shown = self.path.display().to_string();
        // A regular file is truncated here, not when opened; a device or pipe
        // (`/dev/stdout`) is written as it is.
        if self.file.metadata().is_ok_and(|m| m.is_file()) {
            self.file
                .set_len(0)
                .and_then(|()| self.file.rewind())
                .with_context(|| format!("cannot write {shown}"))?;
        }
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write {shown}"))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for JsonFile {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether two existing paths name the same file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Writes `text` to stdout. A reader that has gone away (`simulate ... | head`) ends the
/// output quietly instead of panicking as `print!` would.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Runs the engine in steps of 1/500 of the horizon, showing a progress bar on stderr once
/// the run has taken a second (only when stderr is a terminal).
fn run_with_progress(engine: &mut Engine) -> Result<(), fleetsim::sim::SimError> {
    let horizon = engine.scenario().horizon;
    if !stderr_is_terminal() {
        return engine.run();
    }
    let start = Instant::now();
    let mut bar: Option<ProgressBar> = None;
    let step = (horizon / 500).max(1);
    let mut until = 0;
    while until < horizon {
        until = (until + step).min(horizon);
        engine.run_until(until)?;
        if bar.is_none() && start.elapsed().as_secs_f64() > 1.0 {
            let b = ProgressBar::with_draw_target(
                Some(horizon / US_PER_HOUR),
                ProgressDrawTarget::stderr(),
            );
            b.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} h simulated  {msg}  ETA {eta}")
                    .expect("valid template"),
            );
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_position(engine.now() / US_PER_HOUR);
            let rate = engine.events() as f64 / start.elapsed().as_secs_f64();
            b.set_message(format!("{rate:.0} events/s"));
        }
    }
    engine.run()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

/// A bar counting finished runs, drawn on stderr only when it is a terminal.
/// Runs finished, out of `total` (`None` for the --size search, whose number is not known in
/// advance); drawn only when stderr is a terminal.
fn runs_bar(total: Option<u64>) -> ProgressBar {
    let target = if stderr_is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let template = match total {
        Some(_) => "{bar:40} {pos}/{len} runs  ETA {eta}",
        None => "{spinner} {pos} runs of the sizing search  {elapsed}",
    };
    let b = ProgressBar::with_draw_target(total, target);
    b.set_style(ProgressStyle::with_template(template).expect("valid template"));
    b
}
