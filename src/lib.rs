//! fleetsim: a discrete-event simulator and scheduler for multi-tenant GPU fleets that charges
//! tenant and workflow switches and reports utilization, tokens per GPU-hour and margin.

pub mod compare;
pub mod config;
pub mod fleet;
pub mod metrics;
pub mod policy;
pub mod prefetch;
pub mod report;
pub mod sim;
pub mod sizing;
pub mod state;
pub mod trace;
pub mod units;
pub mod workload;

use config::Scenario;

/// Reads and validates a scenario file as `opts` say, and checks the policies it names
/// against those this build knows (the config layer does not know them).
pub fn load(
    path: &std::path::Path,
    opts: &config::LoadOptions,
) -> Result<Scenario, config::ConfigError> {
    let sc = config::load_with(path, opts)?;
    sc.check_policies(policy::POLICIES)?;
    Ok(sc)
}

/// Runs a scenario under its configured policy and returns the report.
pub fn run_scenario(sc: &Scenario) -> Result<report::Report, RunError> {
    let policy = policy::by_name(&sc.policy).map_err(RunError::Policy)?;
    let mut engine = sim::Engine::new(sc.clone(), policy);
    engine.run()?;
    Ok(report::build(&engine))
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Policy(String),
    #[error(transparent)]
    Sim(#[from] sim::SimError),
}
