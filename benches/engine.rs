//! Benchmarks: a full run of the saturated week under each policy, the engine's event
//! throughput, one placement decision on a loaded fleet of 1k, 100k and 500k GPUs for each
//! policy, and sizing the default region for all six policies at three seeds. Run with
//! `cargo bench --bench engine` (`-- decision` for the decisions only, `-- sizing` for the
//! sizing).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

use fleetsim::config;
use fleetsim::policy::{self, POLICIES};
use fleetsim::sim::Engine;
use fleetsim::units::US_PER_HOUR;

/// Sizing the default region: every policy, three seeds, the default targets and grid.
fn sizing(c: &mut Criterion) {
    let sc = config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/fleet.toml"
    )))
    .expect("config");
    let policies: Vec<String> = POLICIES.iter().map(|p| p.to_string()).collect();
    let seeds: Vec<u64> = (0..3).map(|i| sc.seed + i).collect();
    let mut g = c.benchmark_group("sizing");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.bench_function("fleet.toml, six policies, 3 seeds", |b| {
        b.iter(|| {
            let s = fleetsim::sizing::size(
                &sc,
                &policies,
                &seeds,
                &fleetsim::sizing::Targets::default(),
                &fleetsim::sizing::Grid::default(),
                "dedicated",
            )
            .unwrap();
            black_box(s.rows.len())
        })
    });
    g.finish();
}

fn default_scenario() -> config::Scenario {
    config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/saturated.toml"
    )))
    .expect("config")
}

fn full_runs(c: &mut Criterion) {
    let sc = default_scenario();
    let mut g = c.benchmark_group("saturated.toml week");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for name in POLICIES {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut e = Engine::new(sc.clone(), policy::by_name(name).unwrap());
                e.run().unwrap();
                black_box(e.now())
            })
        });
    }
    g.finish();
}

/// Events per second of the engine: a simulated day of the default scenario.
fn event_throughput(c: &mut Criterion) {
    let mut sc = default_scenario();
    sc.horizon = 24 * US_PER_HOUR;
    let mut probe = Engine::new(sc.clone(), policy::by_name("first_fit").unwrap());
    probe.run().unwrap();
    let mut g = c.benchmark_group("engine events");
    g.sample_size(10)
        .throughput(Throughput::Elements(probe.events()));
    g.bench_function("saturated.toml day, first_fit", |b| {
        b.iter(|| {
            let mut e = Engine::new(sc.clone(), policy::by_name("first_fit").unwrap());
            e.run().unwrap();
            black_box(e.events())
        })
    });
    g.finish();
}

/// One placement decision for an 8-GPU training job and for an inference replica, on the
/// default region scaled to about 1k, 100k and 500k GPUs (same demand per GPU) after one
/// simulated hour, when the fleet is full and the backlog deep.
fn decision(c: &mut Criterion) {
    let base = default_scenario();
    let training = base
        .workloads
        .iter()
        .position(|w| w.name == "anchor-research")
        .expect("workload");
    let serving = base
        .workloads
        .iter()
        .position(|w| w.name == "anchor-serve")
        .expect("workload");
    let mut g = c.benchmark_group("decision");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    for (label, k) in [("1k", 0.25), ("100k", 25.0), ("500k", 118.0)] {
        let mut sc = base.clone();
        sc.scale(k).expect("a valid scale");
        sc.horizon = 2 * US_PER_HOUR;
        for name in POLICIES {
            let mut e = Engine::new(sc.clone(), policy::by_name(name).unwrap());
            e.run_until(US_PER_HOUR).unwrap();
            g.bench_with_input(
                BenchmarkId::new(format!("{name} 8-GPU job"), label),
                &(),
                |b, _| b.iter(|| black_box(e.probe(training, 8))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("{name} replica"), label),
                &(),
                |b, _| b.iter(|| black_box(e.probe(serving, 0))),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, full_runs, event_throughput, decision, sizing);
criterion_main!(benches);
