//! Helpers for integration tests: tiny scenarios written inline, run with the audit on.
#![allow(dead_code)]

use fleetsim::config::{self, Scenario};
use fleetsim::policy;
use fleetsim::report::{self, Report};
use fleetsim::sim::Engine;

/// The H100 HGX type with the default figures, as a TOML literal (for `concat!`).
macro_rules! h100_type {
    () => {
        r#"
[gpu_types.H100]
hbm_gb = 80
tdp_w = 700
node_gpus = 8
nvlink_domain_gpus = 8
price_usd_per_gpu_hour = 2.5
capital_usd_per_gpu_hour = 1.5
tenant_switch = "18m"
model_load_fixed = "20s"
model_load_gb_per_s = 25
training_restart = "5m"
"#
    };
}

/// The GB200 NVL72 type with the default figures, as a TOML literal (for `concat!`).
#[allow(unused_macros)]
macro_rules! gb200_type {
    () => {
        r#"
[gpu_types.GB200]
hbm_gb = 186
tdp_w = 1200
node_gpus = 4
nvlink_domain_gpus = 72
price_usd_per_gpu_hour = 4.5
capital_usd_per_gpu_hour = 2.21
tenant_switch = "25m"
model_load_fixed = "20s"
model_load_gb_per_s = 25
training_restart = "5m"
"#
    };
}

pub const H100: &str = h100_type!();
/// The H100 type with on-demand and spot prices.
pub const H100_PRICED: &str = concat!(
    h100_type!(),
    "on_demand_usd_per_gpu_hour = 6.16\nspot_usd_per_gpu_hour = 2.46\n"
);
pub const GB200: &str = gb200_type!();

/// One 8-GPU H100 node, no failures; append tenants and workloads.
pub const ONE_NODE: &str = concat!(
    r#"
[simulation]
horizon = "4h"
seed = 1
policy = "first_fit"
failures = false
"#,
    h100_type!(),
    r#"
[[pools]]
gpu_type = "H100"
gpus = 8
"#
);

pub fn scenario(text: &str) -> Scenario {
    config::parse(text, "test.toml").unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// Runs with every invariant audited after every event.
pub fn run(sc: &Scenario, policy: &str) -> Report {
    let p = policy::by_name(policy).expect("policy");
    let mut e = Engine::new(sc.clone(), p).with_audit(true);
    e.run().unwrap_or_else(|err| panic!("run failed: {err}"));
    report::build(&e)
}

pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[track_caller]
pub fn assert_close(a: f64, b: f64) {
    assert!(close(a, b, 1e-9), "{a} != {b}");
}

/// The public traces beside the project (`../shared/traces`), or `None` with a message saying
/// the trace tests are skipped (the traces are not shipped with the project).
pub fn shared_traces() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is absent (public traces are not shipped with the project)",
            dir.display()
        );
        None
    }
}
