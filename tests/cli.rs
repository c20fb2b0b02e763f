//! The command line refuses what it would ignore or could not do, with a message naming the
//! flag and what is accepted, and never panics: each case runs the binary.

mod common;
use common::{ONE_NODE, scenario};

use fleetsim::config::{MAX_SCALED_JOBS, ScaleError};
use fleetsim::fleet::MAX_FLEET_GPUS;

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

#[test]
fn scale_has_a_range_bounded_by_the_fleet() {
    let d = Dir::new("scale");
    let c = d.small();
    // 8 GPUs may grow to 10,000,000: a factor up to 1,250,000.
    refused(
        &c,
        &["--scale", "1e9"],
        &[
            "--scale 1e9",
            "8000000000 GPUs",
            "at most 10000000",
            "at most 1250000",
        ],
    );
    refused(
        &c,
        &["--scale", "1e300"],
        &["--scale 1e300", "8.00e300 GPUs"],
    );
    refused(
        &c,
        &["--scale", "inf"],
        &["--scale", "a number > 0", "`inf`"],
    );
    refused(&c, &["--scale", "0"], &["--scale", "a number > 0", "`0`"]);
    refused(
        &c,
        &["--scale", "ten"],
        &["--scale", "a number > 0", "`ten`"],
    );
    // A factor that rounds the pool to nothing keeps one NVLink domain, as before.
    let out = accepted(&c, &["--scale", "0.001", "--horizon", "1h"]);
    assert!(out.contains("\"gpus\": 8,"), "{out}");
    let out = accepted(&c, &["--scale", "3", "--horizon", "1h"]);
    assert!(out.contains("\"gpus\": 24,"), "{out}");
}

#[test]
fn fleet_scale_changes_the_fleet_and_leaves_demand_and_contracts_as_they_are() {
    let d = Dir::new("fleet-scale");
    let c = d.small();
    refused(
        &c,
        &["--fleet-scale", "0"],
        &["--fleet-scale", "a number > 0", "`0`"],
    );
    refused(
        &c,
        &["--fleet-scale", "1e9"],
        &["--fleet-scale 1e9", "at most 10000000"],
    );
    // Three times the GPUs, the same jobs submitted: demand is not scaled.
    let one = accepted(&c, &["--horizon", "4h"]);
    let three = accepted(&c, &["--fleet-scale", "3", "--horizon", "4h"]);
    assert!(three.contains("\"gpus\": 24,"), "{three}");
    let submitted = |out: &str| {
        let v: serde_json::Value = serde_json::from_str(out).unwrap();
        v["jobs"]["submitted"].clone()
    };
    assert_eq!(submitted(&one), submitted(&three));
    // With --scale, the demand grows too; --fleet-scale then scales the fleet alone.
    let both = accepted(
        &c,
        &["--scale", "2", "--fleet-scale", "2", "--horizon", "4h"],
    );
    assert!(both.contains("\"gpus\": 32,"), "{both}");

    // Reservations are contracts: a fleet too small for them is refused, not shrunk to fit.
    let text = format!("{ONE_NODE}{SMALL}")
        .replacen("\ngpus = 8", "\ngpus = 16", 1)
        .replace(
            "[[tenants]]\nname = \"a\"\n",
            "[[tenants]]\nname = \"a\"\nreserved_gpus = { H100 = 16 }\n",
        );
    let sc = scenario(&text);
    assert_eq!((sc.total_gpus(), sc.tenants[0].reserved[0]), (16, 16));
    let mut two = sc.clone();
    two.scale_fleet(2.0).unwrap();
    assert_eq!((two.total_gpus(), two.tenants[0].reserved[0]), (32, 16));
    let mut half = sc.clone();
    let e = half.scale_fleet(0.5).unwrap_err();
    assert!(
        matches!(
            e,
            ScaleError::ReservationsExceedFleet {
                reserved: 16,
                gpus: 8,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(half.total_gpus(), 16, "left as it was");
}

#[test]
fn scaling_checks_every_count_and_leaves_the_scenario_as_it_was_on_error() {
    let sc = scenario(&format!("{ONE_NODE}{SMALL}"));
    let mut big = sc.clone();
    let e = big.scale(2e6).unwrap_err();
    assert!(
        matches!(e, ScaleError::FleetTooLarge { gpus: 8, .. }),
        "{e:?}"
    );
    assert_eq!(big.total_gpus(), 8);
    assert!(matches!(
        big.scale(f64::NAN),
        Err(ScaleError::NotPositive(_))
    ));
    assert!(matches!(big.scale(-1.0), Err(ScaleError::NotPositive(_))));
    assert!(big.scale(1_250_000.0).is_ok());
    assert_eq!(big.total_gpus(), MAX_FLEET_GPUS);

    // A backlog that no longer fits its u32 (the largest a config may give, times 500).
    let text =
        format!("{ONE_NODE}{SMALL}").replace("backlog_jobs = 3", "backlog_jobs = 10_000_000");
    let mut sc = scenario(&text);
    let e = sc.scale(500.0).unwrap_err();
    assert!(e.to_string().contains("batch `b`: backlog_jobs"), "{e}");
    assert!(matches!(e, ScaleError::CountTooLarge { .. }));
    // A rate that would become infinite (beyond what a config may give: set on the scenario).
    let mut sc = scenario(&format!("{ONE_NODE}{SMALL}"));
    if let fleetsim::workload::Spec::Batch(b) = &mut sc.workloads[0].spec {
        b.arrivals_per_hour = 1e308;
    }
    let e = sc.scale(10.0).unwrap_err();
    assert!(matches!(e, ScaleError::RateTooLarge { .. }), "{e:?}");
    // Explicit jobs repeated beyond the bound: 10 jobs, 1,250,000 times.
    let jobs: Vec<String> = (0..10)
        .map(|h| format!("{{ at = \"{h}h\", gpus = 8, tokens = \"1B\" }}"))
        .collect();
    let text = format!(
        "{ONE_NODE}{SMALL}[[training]]\nname = \"t\"\ntenant = \"a\"\ntokens_per_s_per_gpu = {{ H100 = 650 }}\ncheckpoint_interval = \"30m\"\njobs = [{}]\n",
        jobs.join(", ")
    );
    let e = scenario(&text).scale(1_250_000.0).unwrap_err();
    assert!(
        matches!(e, ScaleError::TooManyJobs { jobs: 10, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains(&format!("at most {MAX_SCALED_JOBS}")),
        "{e}"
    );
    let mut sc = scenario(&text);
    sc.scale(100_000.0).unwrap();
    assert_eq!(sc.total_gpus(), 800_000);
}

#[test]
fn a_config_fleet_is_bounded_too() {
    let text = format!("{ONE_NODE}{SMALL}").replace(
        "gpu_type = \"H100\"\ngpus = 8\n",
        "gpu_type = \"H100\"\ngpus = 4_000_000_000\n",
    );
    let e = fleetsim::config::parse(&text, "big.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`pools`") && e.contains("at most 10000000"),
        "{e}"
    );
}

#[test]
fn seeds_are_bounded_before_anything_is_allocated() {
    let d = Dir::new("seeds");
    let c = d.small();
    // Once allocated 32 GB for the seed list up front.
    refused(
        &c,
        &["--seeds", "4294967296", "--horizon", "1s"],
        &[
            "--seeds must be a whole number from 1 to 10000",
            "`4294967296`",
        ],
    );
    refused(&c, &["--seeds", "0"], &["--seeds", "from 1 to 10000"]);
    refused(&c, &["--seeds", "2.5"], &["--seeds", "from 1 to 10000"]);
    refused(&c, &["--seed", "18446744073709551616"], &["--seed must be"]);
    // Seeds x policies x sweep factors are bounded too.
    refused(
        &c,
        &["--seeds", "10000", "--sweep", "0,1,2,4,10,20"],
        &[
            "10000 seed(s) x 6 policies x 6 sweep factor(s)",
            "at most 100000",
        ],
    );
    let out = accepted(&c, &["--seeds", "3", "--horizon", "1h"]);
    assert!(out.contains("\"runs\": 3"), "{out}");
}

#[test]
fn negative_numbers_get_the_programs_own_message() {
    let d = Dir::new("negative");
    let c = d.small();
    for (args, wanted) in [
        (
            &["--seeds", "-1"][..],
            "--seeds must be a whole number from 1 to 10000, got `-1`",
        ),
        (&["--scale", "-2"], "--scale must be a number > 0"),
        (&["--seed", "-5"], "--seed must be a whole number from 0"),
        (
            &["--sweep", "-1,2"],
            "--sweep: each factor must be a number from 0 to 1000, got `-1`",
        ),
        (&["--sweep", "-inf"], "--sweep: each factor must be"),
        (&["--horizon", "-1h"], "cannot be negative"),
    ] {
        let e = refused(&c, args, &[wanted]);
        assert!(!e.contains("unexpected argument"), "{args:?}: {e}");
    }
    // A flag after a value-less --sweep is still a flag.
    let out = accepted(&c, &["--sweep", "--horizon", "1h"]);
    assert!(out.contains("\"sweep\""), "{out}");
}

#[test]
fn a_closed_stdout_ends_the_output_without_a_panic() {
    let d = Dir::new("pipe");
    let c = d.small();
    for quiet in [true, false] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_simulate"));
        cmd.args([c.as_str(), "--seeds", "200", "--horizon", "1h"]);
        if quiet {
            cmd.arg("--quiet");
        }
        let mut child = cmd
            .env_remove("RUST_BACKTRACE")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn flags_outside_the_modes_that_use_them_are_refused() {
    let d = Dir::new("modes");
    let c = d.small();
    refused(&c, &["--by-type"], &["--by-type", "--compare"]);
    refused(&c, &["--by-type", "--sweep"], &["--by-type", "--sweep"]);
    let out = simulate(&[c.as_str(), "--compare", "--by-type", "--quiet"]);
    assert!(!out.status.success(), "--by-type --quiet accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--quiet"));
    refused(&c, &["--baseline", "dedicated"], &["--baseline", "--sweep"]);
    refused(
        &c,
        &["--baseline", "first_fit", "--compare"],
        &["--baseline", "--sweep"],
    );
    refused(
        &c,
        &["--policies", "first_fit"],
        &["--policies", "--policy"],
    );
    refused(&c, &["--compare", "--sweep"], &["--compare and --sweep"]);
    refused(
        &c,
        &["--compare", "--sweep", "1,2"],
        &["--compare and --sweep"],
    );
    refused(
        &c,
        &["--policy", "best_fit", "--compare"],
        &["--policy", "--policies"],
    );
    refused(
        &c,
        &[
            "--policy",
            "best_fit",
            "--seeds",
            "2",
            "--policies",
            "first_fit",
        ],
        &["--policy", "--policies"],
    );
    refused(
        &c,
        &["--compare", "--policies", "first_fit,best_fit,first_fit"],
        &["--policies", "`first_fit` is named twice"],
    );
    refused(
        &c,
        &["--compare", "--policies", "first_fit,nonesuch"],
        &["--policies", "nonesuch"],
    );
    refused(
        &c,
        &["--sweep", "--baseline", "nonesuch"],
        &["--baseline", "nonesuch"],
    );
    let e = refused(
        &c,
        &["--policy", "nonesuch"],
        &["--policy: unknown policy `nonesuch`"],
    );
    assert_eq!(e.matches("known:").count(), 1, "{e}");
    refused(
        &c,
        &["--sweep", "--policies", "first_fit,best_fit"],
        &[
            "baseline `dedicated` is not among the policies run",
            "--baseline",
        ],
    );
    // Trace flags on a config that reads no traces.
    refused(&c, &["--lenient"], &["--lenient", "reads none"]);
    refused(&c, &["--trace-dir", "/tmp"], &["--trace-dir", "reads none"]);

    // What the modes do use.
    let h = ["--horizon", "1h"];
    accepted(
        &c,
        &[&h[..], &["--compare", "--policies", "first_fit,best_fit"]].concat(),
    );
    accepted(
        &c,
        &[
            &h[..],
            &["--seeds", "2", "--policies", "first_fit,best_fit"],
        ]
        .concat(),
    );
    accepted(
        &c,
        &[&h[..], &["--seeds", "2", "--policy", "best_fit"]].concat(),
    );
    accepted(
        &c,
        &[
            &h[..],
            &[
                "--sweep",
                "0,1",
                "--policies",
                "first_fit,best_fit",
                "--baseline",
                "best_fit",
            ],
        ]
        .concat(),
    );
    for args in [
        &["--compare", "--by-type"][..],
        &["--seeds", "2", "--by-type"],
    ] {
        let out = simulate(&[&[c.as_str()], &h[..], args].concat());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("H100"),
            "{args:?}"
        );
    }
}

#[test]
fn an_unwritable_json_path_is_found_before_the_run() {
    let d = Dir::new("json");
    let c = d.small();
    let missing = d.0.join("no/such/folder/x.json");
    let missing = missing.to_str().unwrap();
    refused(
        &c,
        &["--json", missing],
        &["--json", "cannot write", "does not exist"],
    );
    let folder = d.0.to_str().unwrap();
    refused(
        &c,
        &["--json", folder],
        &["--json", "folder", "path of a file"],
    );
    refused(&c, &["--json", &c], &["--json", "config file"]);
    // Before the config is read (and so before the run, which may take long).
    let absent = d.0.join("absent.toml");
    let e = refused(absent.to_str().unwrap(), &["--json", missing], &["--json"]);
    assert!(!e.contains("cannot read the config"), "{e}");

    // A run that fails leaves an existing file as it was and removes one it created.
    let old = d.0.join("old.json");
    // Longer than the report, so that a write without truncating would leave a tail.
    let before = format!("{{\"old\": 1}}{}\n", " ".repeat(100_000));
    std::fs::write(&old, &before).unwrap();
    refused(
        &c,
        &["--json", old.to_str().unwrap(), "--scale", "1e9"],
        &["--scale"],
    );
    assert_eq!(std::fs::read_to_string(&old).unwrap(), before);
    let new = d.0.join("new.json");
    refused(
        &c,
        &["--json", new.to_str().unwrap(), "--scale", "1e9"],
        &["--scale"],
    );
    assert!(!new.exists());
    // A run that succeeds replaces the contents.
    let out = accepted(&c, &["--json", old.to_str().unwrap(), "--horizon", "1h"]);
    assert_eq!(std::fs::read_to_string(&old).unwrap(), out);
}
