//! The `simulate` command: loads a scenario, applies command-line overrides, runs it and
//! prints the report (and writes it as JSON with `--json`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use fleetsim::config;
use fleetsim::policy::{self, POLICIES};
use fleetsim::report;
use fleetsim::sim::Engine;
use fleetsim::units::parse_duration;

/// Simulate a multi-tenant GPU fleet under a placement policy and report utilization,
/// tokens per GPU-hour, switch costs and margin.
#[derive(Parser, Debug)]
#[command(name = "simulate", version, about)]
struct Cli {
    /// Scenario file (TOML), e.g. configs/fleet.toml.
    config: PathBuf,
    /// Placement policy, overriding the config's `simulation.policy`.
    #[arg(long)]
    policy: Option<String>,
    /// Random seed, overriding the config's `simulation.seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated time span with a unit ("7d", "36h"), overriding `simulation.horizon`.
    #[arg(long)]
    horizon: Option<String>,
    /// Also write the report as JSON to this path.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Print only the JSON report on stdout (no tables).
    #[arg(long)]
    quiet: bool,
    /// Log what the simulator does on stderr (-v info, -vv debug, -vvv every placement).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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

fn run(cli: Cli) -> Result<()> {
    let mut sc = config::load(&cli.config)?;
    if let Some(p) = cli.policy {
        sc.policy = p;
    }
    if let Some(s) = cli.seed {
        sc.seed = s;
    }
    if let Some(h) = cli.horizon {
        sc.horizon = parse_duration(&h).map_err(|e| anyhow::anyhow!("--horizon: {e}"))?;
        if sc.horizon == 0 {
            bail!("--horizon must be longer than 0");
        }
    }
    let policy = policy::by_name(&sc.policy).map_err(|e| {
        anyhow::anyhow!(
            "{e}; set it with --policy or `simulation.policy` (one of {})",
            POLICIES.join(", ")
        )
    })?;
    tracing::info!(scenario = %sc.name, policy = %sc.policy, gpus = sc.total_gpus(), "starting run");
    let mut engine = Engine::new(sc, policy);
    engine.run().context("simulation failed")?;
    let rep = report::build(&engine);
    tracing::info!(events = rep.engine_stats.events, "run finished");
    let json = serde_json::to_string_pretty(&rep)? + "\n";
    if let Some(path) = &cli.json {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if cli.quiet {
        print!("{json}");
    } else {
        print!("{}", report::render(&rep));
    }
    Ok(())
}
