//! Validation against queueing theory: one GPU type of 1-GPU nodes, one tenant, Poisson
//! arrivals of 1-GPU jobs with exponential run times, no switch cost, FIFO. That is an M/M/c
//! queue, whose mean wait the Erlang C formula gives exactly; the simulated mean over
//! independent replications must match it within a 99.9 % confidence interval, and the
//! engine's time-averaged queue length must obey Little's law.
//!
//! `cargo test --release --test validation -- --nocapture` prints the table quoted in the
//! "Validation" section of docs/model.md.

mod common;

use fleetsim::config;
use fleetsim::policy;
use fleetsim::report;
use fleetsim::sim::Engine;
use fleetsim::units::{US_PER_HOUR, hours};

/// Probability of waiting in M/M/c with offered load `a` = λ/μ (Erlang C), via the stable
/// Erlang B recursion.
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / c as f64;
    b / (1.0 - rho * (1.0 - b))
}

/// Mean wait in M/M/c, hours, with mean service 1 h.
fn mmc_wait(c: u32, rho: f64) -> f64 {
    let (mu, lambda) = (1.0, rho * c as f64);
    erlang_c(c, lambda / mu) / (c as f64 * mu - lambda)
}

fn scenario(c: u32, rho: f64, horizon_h: f64, seed: u64) -> config::Scenario {
    let text = format!(
        r#"
[simulation]
horizon = "{horizon_h}h"
seed = {seed}
failures = false
preempt_exempt = "0s"

[gpu_types.G]
hbm_gb = 80
tdp_w = 700
node_gpus = 1
nvlink_domain_gpus = 1
price_usd_per_gpu_hour = 2.0
capital_usd_per_gpu_hour = 1.0
tenant_switch = "0s"
model_load_fixed = "0s"
model_load_gb_per_s = 25
training_restart = "0s"

[[pools]]
gpu_type = "G"
gpus = {c}

[[tenants]]
name = "only"

[[training]]
name = "jobs"
tenant = "only"
tokens_per_s_per_gpu = {{ G = 1000 }}
checkpoint_interval = "1h"
arrivals_per_hour = {lambda}
tokens_distribution = "exponential"
sizes = [{{ gpus = 1, weight = 1, tokens = 3_600_000 }}]   # mean 1 h of service
"#,
        lambda = rho * c as f64
    );
    config::parse(&text, "mmc.toml").unwrap()
}

struct Rep {
    wait: f64,
    utilization: f64,
    mean_queued: f64,
    mean_running: f64,
    lambda: f64,
    /// Sum over jobs of the time each waited inside the horizon, divided by the horizon.
    waited_area: f64,
}

fn replicate(c: u32, rho: f64, horizon_h: f64, seed: u64) -> Rep {
    let sc = scenario(c, rho, horizon_h, seed);
    let mut e = Engine::new(sc, policy::by_name("first_fit").unwrap()).with_job_history(true);
    e.run().unwrap();
    let r = report::build(&e);
    let h = horizon_h * US_PER_HOUR as f64;
    // Steady state: jobs arriving between 10 % and 80 % of the horizon (all of them start
    // well before it ends).
    let (lo, hi) = ((0.1 * h) as u64, (0.8 * h) as u64);
    let waits: Vec<f64> = e
        .jobs()
        .iter()
        .filter(|j| j.arrival >= lo && j.arrival < hi)
        .map(|j| hours(j.first_start().expect("started before the horizon") - j.arrival))
        .collect();
    let end = e.now();
    let waited: u64 = e
        .jobs()
        .iter()
        .map(|j| j.first_start().unwrap_or(end).min(end) - j.arrival)
        .sum();
    Rep {
        wait: waits.iter().sum::<f64>() / waits.len() as f64,
        utilization: r.gpu_utilization,
        mean_queued: r.jobs.mean_queued,
        mean_running: r.jobs.mean_running,
        lambda: e.jobs().len() as f64 / horizon_h,
        waited_area: waited as f64 / end as f64,
    }
}

/// Two-sided 99.9 % Student t quantile for 9 degrees of freedom.
const T999_9: f64 = 4.781;

#[test]
fn mean_wait_matches_erlang_c_and_littles_law_holds() {
    let reps = 10;
    println!(
        "| servers c | load ρ | Erlang C wait (h) | simulated wait (h) | 99.9 % CI ± | utilization | time-avg queue L_q | λ x W_q |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (c, rho) in [(1, 0.5), (1, 0.8), (4, 0.5), (4, 0.8), (16, 0.8)] {
        // About 30,000 arrivals per replication.
        let horizon_h = (30_000.0 / (rho * c as f64)).round();
        let runs: Vec<Rep> = (1..=reps)
            .map(|s| replicate(c, rho, horizon_h, s))
            .collect();
        let w: Vec<f64> = runs.iter().map(|r| r.wait).collect();
        let mean = w.iter().sum::<f64>() / reps as f64;
        let sd = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
        let half = T999_9 * sd / (reps as f64).sqrt();
        let theory = mmc_wait(c, rho);
        let util = runs.iter().map(|r| r.utilization).sum::<f64>() / reps as f64;
        let lq = runs.iter().map(|r| r.mean_queued).sum::<f64>() / reps as f64;
        println!(
            "| {c} | {rho} | {theory:.4} | {mean:.4} | {half:.4} | {util:.4} | {lq:.4} | {:.4} |",
            rho * c as f64 * mean
        );
        assert!(
            (mean - theory).abs() <= half,
            "c={c} ρ={rho}: simulated {mean:.4} h, Erlang C {theory:.4} h ± {half:.4}"
        );
        // Utilization estimates ρ (busy servers / c); standard error is small over 30k jobs.
        assert!(
            (util - rho).abs() < 0.02,
            "c={c} ρ={rho}: utilization {util}"
        );
        for r in &runs {
            // Little's law as an identity over the run: the time-average queue equals the
            // waiting time of all jobs inside the horizon, per unit time.
            assert!((r.mean_queued - r.waited_area).abs() <= 1e-9 * r.waited_area.max(1.0));
            // And statistically: L = λ (W_q + 1 h) for jobs in the system.
            let l = r.mean_queued + r.mean_running;
            assert!(
                (l - r.lambda * (r.wait + 1.0)).abs() < 0.1 * l.max(1.0),
                "c={c} ρ={rho}: L {l} vs λW"
            );
        }
    }
}

#[test]
fn erlang_c_formula_matches_known_values() {
    // M/M/1: P(wait) = ρ. M/M/2 at a = 1: C = 1/3.
    assert!((erlang_c(1, 0.8) - 0.8).abs() < 1e-12);
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    assert!((mmc_wait(1, 0.5) - 1.0).abs() < 1e-12);
}
