//! Fleet sizing on tiny scenarios whose answer is computed by hand, and on the default region
//! through the command line: the size found meets the targets when run on its own, and the
//! size one step below misses them.

#[macro_use]
mod common;
use common::*;

use fleetsim::sizing::{self, Grid, Targets};

/// Four 8-GPU H100 nodes; one tenant with two one-hour 8-GPU training jobs at time 0.
fn two_jobs(reserved: &str) -> fleetsim::config::Scenario {
    scenario(&format!(
        "
[simulation]
horizon = \"4h\"
seed = 1
policy = \"first_fit\"
failures = false
{H100}
[[pools]]
gpu_type = \"H100\"
gpus = 32

[[tenants]]
name = \"a\"
{reserved}
[[training]]
name = \"job\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}, {{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]
"
    ))
}

/// The default targets with training waits of at most half an hour.
fn half_hour_wait() -> Targets {
    Targets {
        training_wait_p99_hours: 0.5,
        ..Targets::default()
    }
}

fn policies() -> Vec<String> {
    vec!["first_fit".into(), "dedicated".into()]
}

#[test]
fn two_jobs_need_two_nodes_to_start_at_once() {
    // On one node (scale 0.25) the second job waits for the first: its hour of training and
    // its 5-minute restart. The p99 of the waits {0, 65 min} interpolates to 0.99 x 65 min.
    let sc = two_jobs("");
    let targets = half_hour_wait();
    let grid = Grid {
        step: 0.25,
        max: 1.0,
    };
    let s = sizing::size(&sc, &policies(), &[1, 2], &targets, &grid, "dedicated").unwrap();
    assert_eq!(s.smallest_allowed, 0.25);
    for r in &s.rows {
        assert!(r.met, "{}", r.policy);
        assert_eq!(r.fleet_scale, Some(0.5), "{}", r.policy);
        assert_eq!(r.gpus, Some(16));
        assert_eq!(r.gpus_by_type.as_ref().unwrap()["H100"], 16);
        assert!(!r.at_smallest_allowed);
        assert_eq!(r.at.training_wait_p99_hours, Some(0.0));
        let below = r.below.as_ref().expect("the step below was evaluated");
        assert_eq!((below.fleet_scale, below.gpus, below.met), (0.25, 8, false));
        let p99 = below.training_wait_p99_hours.unwrap();
        assert_close(p99, 0.99 * (1.0 + 5.0 / 60.0));
        assert_eq!(
            below.missed.len(),
            2,
            "one miss per seed: {:?}",
            below.missed
        );
        assert!(
            below.missed[0]
                .what
                .contains("tenant a: training wait p99 1.07 h > 0.50 h")
        );
        // Capital over the 4-hour horizon at $1.50 per GPU-hour, and per year.
        assert_close(r.capital_usd.unwrap(), 16.0 * 1.5 * 4.0);
        assert_close(r.at.capital_usd_per_year, 16.0 * 1.5 * 8760.0);
        // Galloping from scale 1, then the smallest allowed, then bisection.
        assert_eq!(r.evaluated, vec![(1.0, true), (0.25, false), (0.5, true)]);
    }
    // Both policies need the same fleet: nothing saved.
    assert_eq!(s.dividend.len(), 1);
    assert_eq!(s.dividend[0].gpus_saved, 0);
}

#[test]
fn a_fleet_that_meets_the_targets_at_its_smallest_allowed_size_says_so() {
    // 16 GPUs reserved: no fleet below 16 GPUs may be sold; at 16 both jobs start at once.
    let sc = two_jobs("reserved_gpus = { H100 = 16 }");
    let targets = half_hour_wait();
    let grid = Grid {
        step: 0.25,
        max: 1.0,
    };
    let s = sizing::size(&sc, &policies(), &[1], &targets, &grid, "dedicated").unwrap();
    assert_eq!(s.smallest_allowed, 0.5);
    for r in &s.rows {
        assert_eq!(r.fleet_scale, Some(0.5), "{}", r.policy);
        assert!(r.at_smallest_allowed);
        assert!(r.below.is_none());
    }
}

#[test]
fn a_target_no_size_meets_is_reported_as_not_met() {
    // The two jobs need two nodes to start at once, and the grid stops at one.
    let sc = two_jobs("");
    let targets = half_hour_wait();
    let grid = Grid {
        step: 0.25,
        max: 0.25,
    };
    let s = sizing::size(&sc, &policies(), &[1], &targets, &grid, "dedicated").unwrap();
    for r in &s.rows {
        assert!(!r.met);
        assert_eq!(r.fleet_scale, None);
        assert_eq!(r.at.fleet_scale, 0.25);
        assert!(!r.at.missed.is_empty());
    }
    assert!(s.dividend.is_empty());
}

fn simulate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("runs")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn the_default_region_sized_from_the_command_line_meets_its_targets_when_run_alone() {
    let out = simulate(&[
        "configs/fleet.toml",
        "--size",
        "--policies",
        "switch_aware,dedicated",
        "--seeds",
        "1",
        "--quiet",
    ]);
    let s = json(&out);
    for key in ["targets", "seeds", "rows", "dividend", "grid"] {
        assert!(s.get(key).is_some(), "no `{key}`");
    }
    assert_eq!(s["seeds"], serde_json::json!([42]));
    for row in s["rows"].as_array().unwrap() {
        let policy = row["policy"].as_str().unwrap();
        assert_eq!(row["met"], true, "{policy} not met up to 4x");
        for key in [
            "fleet_scale",
            "gpus",
            "gpus_by_type",
            "capital_usd",
            "peak_mw",
        ] {
            assert!(!row[key].is_null(), "{policy}: no `{key}`");
        }
        // Run the size found on its own, through the single-run path.
        let k = row["fleet_scale"].as_f64().unwrap().to_string();
        let rep = json(&simulate(&[
            "configs/fleet.toml",
            "--policy",
            policy,
            "--fleet-scale",
            &k,
            "--quiet",
        ]));
        assert_eq!(rep["gpus"], row["gpus"]);
        for (name, svc) in rep["by_service"].as_object().unwrap() {
            let a = svc["slo_attainment"].as_f64().unwrap();
            assert!(a >= 0.99, "{policy} at {k}: {name} at {a}");
        }
        for (name, t) in rep["by_tenant"].as_object().unwrap() {
            if let Some(p99) = t["training_wait_hours"]["p99"].as_f64() {
                assert!(p99 <= 2.0, "{policy} at {k}: {name} waits {p99} h");
            }
            let reserved = t["reserved_gpus"].as_f64().unwrap() * 168.0;
            let waiting = t["guarantee_shortfall_gpu_hours"].as_f64().unwrap()
                - t["shortfall_in_switch_gpu_hours"].as_f64().unwrap();
            if reserved > 0.0 {
                assert!(waiting / reserved <= 0.001, "{policy} at {k}: {name} short");
            }
        }
        // One step below misses a target, and says which.
        let below = &row["below"];
        assert_eq!(below["met"], false, "{policy}");
        assert!(!below["missed"].as_array().unwrap().is_empty());
        let step =
            (row["fleet_scale"].as_f64().unwrap() - below["fleet_scale"].as_f64().unwrap()) * 100.0;
        assert_eq!(step.round(), 5.0, "{policy}: the step below is 0.05");
    }
}

#[test]
fn sizing_flags_are_checked() {
    for (args, wanted) in [
        (vec!["--size", "--target-slo", "99"], "a percentage (`99%`)"),
        (
            vec!["--size", "--target-slo", "1.5%x"],
            "--target-slo must be",
        ),
        (vec!["--target-slo", "0.99"], "without --size"),
        (
            vec!["--size", "--fleet-scale", "2"],
            "--fleet-scale does not go with --size",
        ),
        (
            vec!["--size", "--compare"],
            "--compare does not go with --size",
        ),
        (
            vec!["--size", "--size-grid", "0.1"],
            "a step and a largest scale",
        ),
        (
            vec!["--size", "--size-grid", "0.5,0.1"],
            "at least the step",
        ),
        (
            vec!["--size", "--target-train-wait", "2"],
            "--target-train-wait",
        ),
    ] {
        let mut a = vec!["configs/fleet.toml"];
        a.extend(args.iter());
        let out = simulate(&a);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(wanted), "{args:?}: {err}");
    }
}

#[test]
fn sizing_by_switch_cost_sizes_at_each_scale() {
    let d = json(&simulate(&[
        "configs/fleet.toml",
        "--size",
        "--sweep",
        "0,10",
        "--policies",
        "first_fit,dedicated",
        "--seeds",
        "1",
        "--size-grid",
        "0.25,4",
        "--quiet",
    ]));
    let ss = d["sizings"].as_array().expect("one sizing per scale");
    assert_eq!(ss.len(), 2);
    assert_eq!(ss[0]["switch_cost_scale"], 0.0);
    assert_eq!(ss[1]["switch_cost_scale"], 10.0);
    // Free switches cannot make a pooled fleet need more GPUs than ten times today's.
    let gpus = |s: &serde_json::Value| s["rows"][0]["at"]["gpus"].as_u64().unwrap();
    let met = |s: &serde_json::Value| s["rows"][0]["met"].as_bool().unwrap();
    assert!(met(&ss[0]));
    assert!(!met(&ss[1]) || gpus(&ss[1]) >= gpus(&ss[0]));
}
