//! The command line refuses what it would ignore or could not do, with a message naming the
//! flag and what is accepted, and never panics: each case runs the binary.

mod common;
use common::ONE_NODE;

use std::path::PathBuf;
use std::process::{Command, Output};

/// One 8-GPU node with a small batch workload (runs in milliseconds).
const SMALL: &str = r#"
[[tenants]]
name = "a"

[[batch]]
name = "b"
tenant = "a"
model_gb = 70
tokens_per_s_per_gpu = { H100 = 3900 }
job_tokens = "1B"
arrivals_per_hour = 2
backlog_jobs = 3
"#;

/// A folder of its own for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("fleetsim-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// Writes the small scenario there and returns its path.
    fn small(&self) -> String {
        let path = self.0.join("small.toml");
        std::fs::write(&path, format!("{ONE_NODE}{SMALL}")).unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run simulate")
}

/// Runs `simulate CONFIG ARGS --quiet` and expects it to fail with a message containing every
/// one of `wanted`, without a panic; returns the message.
#[track_caller]
fn refused(config: &str, args: &[&str], wanted: &[&str]) -> String {
    let mut all = vec![config];
    all.extend_from_slice(args);
    all.push("--quiet");
    let out = simulate(&all);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "accepted: {args:?}\n{err}");
    assert_ne!(out.status.code(), Some(101), "panicked: {args:?}\n{err}");
    assert!(!err.contains("panicked"), "panicked: {args:?}\n{err}");
    for w in wanted {
        assert!(err.contains(w), "{args:?}: no `{w}` in:\n{err}");
    }
    err
}

/// Runs `simulate CONFIG ARGS --quiet` and expects success.
#[track_caller]
fn accepted(config: &str, args: &[&str]) -> String {
    let mut all = vec![config];
    all.extend_from_slice(args);
    all.push("--quiet");
    let out = simulate(&all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "refused: {args:?}\n{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn horizon_errors_say_what_is_wrong_and_what_is_accepted() {
    let d = Dir::new("horizon");
    let c = d.small();
    let e = refused(
        &c,
        &["--horizon", "0"],
        &["--horizon", "longer than 0", "\"7d\""],
    );
    assert!(!e.contains("\"0s\""), "suggests a zero horizon: {e}");
    refused(
        &c,
        &["--horizon", "2 days"],
        &["--horizon", "without a space", "\"2d\""],
    );
    refused(
        &c,
        &["--horizon", "2days"],
        &["--horizon", "`days`", "\"2d\""],
    );
    refused(
        &c,
        &["--horizon", "12"],
        &["--horizon", "no unit", "\"12h\""],
    );
    accepted(&c, &["--horizon", "2h"]);
}

#[test]
fn sweep_factors_have_a_range() {
    let d = Dir::new("sweep");
    let c = d.small();
    refused(
        &c,
        &["--sweep", "1e13"],
        &["--sweep", "from 0 to 1000", "1e13"],
    );
    refused(&c, &["--sweep", "nan"], &["--sweep", "from 0 to 1000"]);
    refused(&c, &["--sweep", "inf"], &["--sweep", "from 0 to 1000"]);
    refused(&c, &["--sweep", "2,1"], &["--sweep", "increasing order"]);
    refused(&c, &["--sweep", "1,1"], &["--sweep", "each once"]);
    let out = accepted(&c, &["--sweep", "0,1000", "--horizon", "2h"]);
    assert!(out.contains("\"switch_cost_scale\": 1000.0"), "{out}");
}
