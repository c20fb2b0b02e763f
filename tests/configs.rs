//! Every shipped scenario in `configs/` loads and runs under every policy with the invariant
//! audit on, reports GPU-hours that add up, and is deterministic.

mod common;

use fleetsim::config;
use fleetsim::policy::{self, POLICIES};
use fleetsim::report;
use fleetsim::sim::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// Shipped scenarios small enough for the tests (scale scenarios are for the benchmarks).
fn shipped_small() -> Vec<(PathBuf, config::Scenario)> {
    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
    shipped()
        .into_iter()
        .filter_map(|p| match config::load(&p) {
            Ok(sc) => Some((p, sc)),
            // Trace replays need the public traces, which are not shipped.
            Err(e) if !traces.is_dir() && e.to_string().contains("Public traces") => {
                eprintln!("skipped {}: {} is absent", p.display(), traces.display());
                None
            }
            Err(e) => panic!("{e}"),
        })
        .filter(|(_, sc)| sc.total_gpus() <= 20_000)
        .collect()
}

/// Runs `simulate <path> <args>`, expects success, and parses its JSON output.
fn simulate_json(path: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_config_runs_under_every_policy_with_the_audit_on() {
    for (path, mut sc) in shipped_small() {
        // The audit scans the fleet, the jobs and the queue after every event: audit the first
        // hour (the start-up burst) with batch backlogs capped at 500 jobs; the full scenario
        // runs under every policy in the test below.
        sc.horizon = sc.horizon.min(3_600_000_000);
        for w in &mut sc.workloads {
            if let fleetsim::workload::Spec::Batch(b) = &mut w.spec {
                b.backlog_jobs = b.backlog_jobs.min(500);
            }
        }
        for name in POLICIES {
            let mut e = Engine::new(sc.clone(), policy::by_name(name).unwrap()).with_audit(true);
            e.run()
                .unwrap_or_else(|err| panic!("{} under {name}: {err}", path.display()));
            let r = report::build(&e);
            let g = &r.gpu_hours;
            let parts = g.productive + g.tenant_switch + g.workflow_switch + g.idle + g.down;
            assert!(
                common::close(parts, g.total, 1e-9),
                "{}: parts {parts} != total {}",
                path.display(),
                g.total
            );
            assert!(common::close(
                g.total,
                r.gpus as f64 * r.horizon_hours,
                1e-9
            ));
        }
    }
}

#[test]
fn every_config_compares_every_policy_over_its_full_horizon() {
    for (path, _) in shipped_small() {
        let v = simulate_json(
            &path,
            &["--compare", "--quiet", "--policies", &POLICIES.join(",")],
        );
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), POLICIES.len());
        for (run, name) in runs.iter().zip(POLICIES) {
            assert_eq!(run["policy"], *name);
            let g = &run["gpu_hours"];
            let f = |k: &str| g[k].as_f64().unwrap();
            let parts =
                f("productive") + f("tenant_switch") + f("workflow_switch") + f("idle") + f("down");
            assert!(
                common::close(parts, f("total"), 1e-9),
                "{}: {name}",
                path.display()
            );
        }
    }
}

#[test]
fn every_config_runs_to_its_horizon_from_the_command_line() {
    for (path, _) in shipped_small() {
        let v = simulate_json(&path, &["--quiet"]);
        for field in [
            "policy",
            "seed",
            "horizon_hours",
            "gpus",
            "gpu_hours",
            "gpu_utilization",
            "tokens",
            "tokens_per_gpu_hour",
            "by_gpu_type",
            "by_kind",
            "by_tenant",
            "switches",
            "jobs",
            "economics",
        ] {
            assert!(
                v.get(field).is_some(),
                "{}: report lacks `{field}`",
                path.display()
            );
        }
        let jobs = &v["jobs"];
        let n = |k: &str| jobs[k].as_u64().unwrap();
        assert_eq!(
            n("submitted"),
            n("completed") + n("running") + n("queued") + n("rejected")
        );
        let u = v["gpu_utilization"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&u));
    }
}

#[test]
fn the_same_seed_gives_byte_identical_json_and_another_seed_does_not() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fleet.toml");
    let dir = std::env::temp_dir().join(format!("fleetsim-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |seed: &str, file: &str| {
        let out = dir.join(file);
        let st = Command::new(env!("CARGO_BIN_EXE_simulate"))
            .args([path, "--seed", seed, "--horizon", "2d", "--json"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(st.status.success());
        std::fs::read(out).unwrap()
    };
    let a = run("7", "a.json");
    let b = run("7", "b.json");
    let c = run("8", "c.json");
    assert_eq!(a, b);
    assert_ne!(a, c);
    std::fs::remove_dir_all(&dir).ok();
}

/// The smallest shape the engine works out once per workload (for the quota check at every
/// offer) is the smallest of the shapes a request has on each type, for every shipped
/// workload and gang size, including gangs that fit no type.
#[test]
fn smallest_shape_matches_the_shapes_by_type() {
    use fleetsim::state::request::{Request, Shapes, Target};
    for (path, sc) in shipped_small() {
        let shapes = Shapes::new(&sc);
        for (w, wl) in sc.workloads.iter().enumerate() {
            let training = matches!(wl.kind(), fleetsim::workload::Kind::Training);
            let gangs: Vec<u32> = if training {
                (0..=20)
                    .map(|k| 1u32 << k)
                    .chain([3, 24, 72, 100, 1000])
                    .collect()
            } else {
                vec![0]
            };
            for gang in gangs {
                let req = Request {
                    target: Target::Job(0),
                    kind: wl.kind(),
                    workload: w,
                    tenant: wl.tenant,
                    priority: wl.priority,
                    preemptible: wl.preemptible,
                    arrival: 0,
                    gang,
                    tokens_left: 1.0,
                    serial: 0,
                    smallest: 0,
                };
                let by_type = (0..sc.gpu_types.len())
                    .filter_map(|t| req.gpus_on(&sc, t))
                    .min()
                    .unwrap_or(u32::MAX);
                assert_eq!(
                    shapes.smallest(&sc, w, gang),
                    by_type,
                    "{}: workload {} gang {gang}",
                    path.display(),
                    wl.name
                );
            }
        }
    }
}
