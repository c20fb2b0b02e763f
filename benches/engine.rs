//! Benchmarks: a full run of the default scenario under each policy, and the engine's event
//! throughput on it. Run with `cargo bench --bench engine`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

use fleetsim::config;
use fleetsim::policy::{self, POLICIES};
use fleetsim::sim::Engine;

fn default_scenario() -> config::Scenario {
    config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/fleet.toml"
    )))
    .expect("config")
}

fn full_runs(c: &mut Criterion) {
    let sc = default_scenario();
    let mut g = c.benchmark_group("fleet.toml week");
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

criterion_group!(benches, full_runs);
criterion_main!(benches);
