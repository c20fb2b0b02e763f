//! Crafted scenarios where the placement each policy must make is known exactly, and checks
//! that every policy sees identical demand and that parallel runs equal sequential ones.

#[macro_use]
mod common;
use common::*;

use fleetsim::compare;
use fleetsim::config;
use fleetsim::policy::{self, POLICIES};
use fleetsim::sim::Engine;

fn sim(horizon: &str) -> String {
    format!("[simulation]\nhorizon = \"{horizon}\"\nseed = 9\nfailures = false\n")
}

#[test]
fn heterogeneity_aware_gives_the_fast_type_to_the_work_that_gains_most() {
    // One H100 node and one NVL72 rack. Inference gains 3.2x on GB200, training 2x: the
    // speed-aware policies put inference on GB200 and training on H100; first_fit, blind to
    // speed, takes GB200 (first in config order) for both.
    let sc = scenario(&format!(
        "{}{GB200}{H100}
[[pools]]
gpu_type = \"H100\"
gpus = 8
[[pools]]
gpu_type = \"GB200\"
gpus = 72
[[tenants]]
name = \"a\"
[[training]]
name = \"train\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650, GB200 = 1300 }}
checkpoint_interval = \"1h\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = \"1T\" }}]
[[inference]]
name = \"chat\"
tenant = \"a\"
model_gb = 70
tokens_per_s_per_gpu = {{ H100 = 2300, GB200 = 7400 }}
demand_tokens_per_s = 5000
",
        sim("2h")
    ));
    for p in ["heterogeneity_aware", "switch_aware"] {
        let r = run(&sc, p);
        assert_eq!(
            r.by_gpu_type["H100"].tokens, r.by_kind["training"].tokens,
            "{p}: training on H100"
        );
        assert_eq!(
            r.by_gpu_type["GB200"].tokens, r.by_kind["inference"].tokens,
            "{p}: inference on GB200"
        );
    }
    let r = run(&sc, "first_fit");
    assert_eq!(
        r.by_gpu_type["H100"].tokens, 0.0,
        "first_fit puts everything on GB200 first"
    );
}

#[test]
fn best_fit_keeps_a_whole_rack_free_for_a_wide_gang() {
    // Two racks. A 72-GPU gang fills rack 0 for 1 h while a 4-GPU job runs in rack 1. At 2 h,
    // another 4-GPU job arrives: first_fit takes the first idle tray (rack 0); best_fit packs
    // it into rack 1, the fuller rack. A second 72-GPU gang arriving right after then finds
    // a whole rack only under best_fit.
    let wide_1h = 72.0 * 1300.0 * 3600.0;
    let sc = scenario(&format!(
        "{}{GB200}
[[pools]]
gpu_type = \"GB200\"
gpus = 144
[[tenants]]
name = \"a\"
[[training]]
name = \"wide\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
wide_nvlink = true
jobs = [{{ at = \"0s\", gpus = 72, tokens = {wide_1h} }}, {{ at = \"2h1s\", gpus = 72, tokens = {wide_1h} }}]
[[training]]
name = \"small\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
jobs = [{{ at = \"1s\", gpus = 4, tokens = \"1T\" }}, {{ at = \"2h\", gpus = 4, tokens = \"1T\" }}]
",
        sim("6h")
    ));
    let r = run(&sc, "best_fit");
    assert_eq!(r.jobs.completed, 2, "both wide gangs ran");
    assert_close(r.by_kind["training"].wait_hours.p99.unwrap() * 0.0, 0.0);
    let r = run(&sc, "first_fit");
    assert_eq!(
        r.jobs.completed, 1,
        "the second wide gang found no whole rack"
    );
    assert_eq!(r.jobs.queued, 1);
}

#[test]
fn switch_aware_waits_rather_than_reprovision_for_a_short_run() {
    // One node. Tenant a trains for 1 h; at 1 h 30 min tenant b submits a 10-minute job. The
    // node carries a's image: re-provisioning costs 18 min, more than a quarter of the run,
    // so switch_aware waits until the request has waited as long as the switch (18 min) and
    // places it at the next tick (5-min ticks: 1 h 50 min). first_fit switches at once.
    let sc = scenario(&format!(
        "{ONE_NODE}
[[tenants]]
name = \"a\"
[[tenants]]
name = \"b\"
[[training]]
name = \"ja\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]
[[training]]
name = \"jb\"
tenant = \"b\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"90m\", gpus = 8, tokens = 3_120_000 }}]
"
    ));
    let wait_b = |p: &str| run(&sc, p).jobs.wait_hours.p99.unwrap() / 0.99; // b's wait (a waits 0)
    assert_close(wait_b("first_fit"), 0.0);
    assert_close(wait_b("switch_aware"), 20.0 / 60.0);
}

#[test]
fn switch_aware_prefers_the_tenants_own_idle_node() {
    // Two nodes, both idle at 2 h: node 0 last served tenant b, node 1 tenant a. A job of a
    // then needs no switch under switch_aware; first_fit takes node 0 and re-provisions it.
    let sc = scenario(&format!(
        "{}{H100}
[[pools]]
gpu_type = \"H100\"
gpus = 16
[[tenants]]
name = \"a\"
[[tenants]]
name = \"b\"
[[training]]
name = \"jb\"
tenant = \"b\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]
[[training]]
name = \"ja\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"1s\", gpus = 8, tokens = 18_720_000 }}, {{ at = \"2h\", gpus = 8, tokens = 18_720_000 }}]
",
        sim("4h")
    ));
    assert_eq!(run(&sc, "switch_aware").switches.tenant, 0);
    assert_eq!(run(&sc, "first_fit").switches.tenant, 1);
}

#[test]
fn every_pooled_policy_reclaims_borrowed_gpus_for_a_tenant_under_its_reservation() {
    // Two nodes. Tenant b (no reservation) borrows both for a long 16-GPU job at 0. At 1 h,
    // tenant a (8 GPUs reserved) submits an 8-GPU job: every pooled policy preempts b's
    // borrowed gang and places a's job, which waits only for the reclaim (b's gang is past
    // its 10-minute exemption) and the node's 18-minute tenant switch.
    let sc = scenario(&format!(
        "{}{H100}
[[pools]]
gpu_type = \"H100\"
gpus = 16
[[tenants]]
name = \"a\"
reserved_gpus = {{ H100 = 8 }}
[[tenants]]
name = \"b\"
[[training]]
name = \"jb\"
tenant = \"b\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 16, tokens = \"1T\" }}]
[[training]]
name = \"ja\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"1h\", gpus = 8, tokens = 18_720_000 }}]
",
        sim("4h")
    ));
    for policy in POLICIES.iter().filter(|p| **p != "dedicated") {
        let r = run(&sc, policy);
        assert_eq!(r.jobs.preemptions, 1, "{policy}");
        assert_eq!(r.by_tenant["a"].tokens, 18.72e6, "{policy}");
        // b lost the 25 minutes since its 30-minute checkpoint (it restarted at 0:05).
        assert_close(r.engine_stats.tokens_lost, 16.0 * 650.0 * 25.0 * 60.0);
        // a was short of its 8 GPUs for the 18-minute tenant switch, and is paid an SLA
        // credit of the committed price for them; its take-or-pay bill is every reserved hour.
        let a = &r.by_tenant["a"];
        assert_close(a.guarantee_shortfall_gpu_hours, 8.0 * 0.3);
        assert_close(a.longest_shortfall_hours, 0.3);
        assert_close(a.sla_credits_usd, 8.0 * 0.3 * 2.5);
        assert_close(a.billed_gpu_hours, 8.0 * 4.0);
        assert_close(a.revenue_usd, 8.0 * 4.0 * 2.5 - 8.0 * 0.3 * 2.5);
    }
    // The static partition keeps a's node for it: no reclaim, no shortfall; b, with no
    // reservation, gets no partition at all.
    let r = run(&sc, "dedicated");
    assert_eq!(r.jobs.preemptions, 0);
    assert_eq!(r.by_tenant["a"].guarantee_shortfall_gpu_hours, 0.0);
    assert_eq!(r.by_tenant["b"].tokens, 0.0);
}

#[test]
fn every_policy_sees_identical_arrivals_and_demand_for_the_same_seed() {
    let mut sc = config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/fleet.toml"
    )))
    .unwrap();
    sc.horizon = 24 * 3_600_000_000;
    let mut seen = Vec::new();
    for name in POLICIES {
        let mut e = Engine::new(sc.clone(), policy::by_name(name).unwrap());
        e.run().unwrap();
        // Every arrival of every workload, held batch jobs included, fingerprinted in order.
        let arrivals = e.arrivals().to_vec();
        let demanded = fleetsim::report::build(&e).inference.demanded_tokens;
        seen.push((name, arrivals, demanded));
    }
    for (name, arrivals, demanded) in &seen[1..] {
        assert_eq!(
            arrivals, &seen[0].1,
            "{name} saw other arrivals than {}",
            seen[0].0
        );
        assert_eq!(
            demanded.to_bits(),
            seen[0].2.to_bits(),
            "{name} saw other demand"
        );
    }
    assert!(seen[0].1.iter().map(|a| a.0).sum::<u64>() > 1000);
}

#[test]
fn parallel_runs_equal_sequential_runs() {
    let mut sc = config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/fleet.toml"
    )))
    .unwrap();
    sc.horizon = 12 * 3_600_000_000;
    let policies: Vec<String> = POLICIES.iter().map(|s| s.to_string()).collect();
    let seeds = [3, 4];
    let parallel = compare::run_matrix(&sc, &policies, &seeds, &[1.0, 2.0]).unwrap();
    let mut sequential = Vec::new();
    for k in [1.0, 2.0] {
        for p in &policies {
            for s in seeds {
                let mut one = sc.clone();
                one.policy = p.clone();
                one.seed = s;
                if k != 1.0 {
                    one.scale_switch_costs(k);
                }
                sequential.push(fleetsim::run_scenario(&one).unwrap());
            }
        }
    }
    assert_eq!(parallel, sequential);
}

#[test]
fn free_switching_does_not_make_any_policy_thrash() {
    // With every switch cost at zero, evictions are free and a careless quota or preemption
    // rule flaps the same GPUs back and forth without end (we had such a bug). Twelve hours of
    // the default region must stay within a sane number of events and preemptions under every
    // policy.
    let mut sc = config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/fleet.toml"
    )))
    .unwrap();
    sc.horizon = 12 * 3_600_000_000;
    sc.scale_switch_costs(0.0);
    for name in POLICIES {
        let mut e = Engine::new(sc.clone(), policy::by_name(name).unwrap());
        e.run().unwrap();
        let r = fleetsim::report::build(&e);
        assert!(
            r.engine_stats.events < 200_000,
            "{name}: {} events",
            r.engine_stats.events
        );
        assert!(
            r.jobs.preemptions < 50_000,
            "{name}: {} preemptions",
            r.jobs.preemptions
        );
    }
}

#[test]
fn config_order_is_the_order_the_file_lists_gpu_types() {
    // Listed V100, P100, K80 (alphabetically the reverse): first_fit, and the policies that
    // fall back to config order, try V100 first.
    let ty = |name: &str| {
        format!(
            "
[gpu_types.{name}]
hbm_gb = 32
tdp_w = 300
node_gpus = 8
nvlink_domain_gpus = 8
price_usd_per_gpu_hour = 1.0
capital_usd_per_gpu_hour = 0.5
tenant_switch = \"10m\"
model_load_fixed = \"20s\"
model_load_gb_per_s = 10
training_restart = \"5m\"
[[pools]]
gpu_type = \"{name}\"
gpus = 8
"
        )
    };
    let sc = scenario(&format!(
        "
[simulation]
horizon = \"2h\"
seed = 1
failures = false
{}{}{}
[[tenants]]
name = \"a\"
[[training]]
name = \"t\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ V100 = 100, P100 = 100, K80 = 100 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 1_000_000 }}]
",
        ty("V100"),
        ty("P100"),
        ty("K80")
    ));
    let names: Vec<&str> = sc.gpu_types.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["V100", "P100", "K80"]);
    for policy in ["first_fit", "best_fit", "fair_share"] {
        let r = run(&sc, policy);
        assert!(r.by_gpu_type["V100"].gpu_hours.productive > 0.0, "{policy}");
        assert_eq!(r.by_gpu_type["K80"].gpu_hours.productive, 0.0, "{policy}");
    }
}

#[test]
fn any_switch_cost_scale_runs_without_overflow() {
    // Switch costs scaled without bound saturate instead of overflowing when a model load's
    // fixed part and its weight transfer are added (a sweep factor of 1e13 once panicked).
    let text = format!(
        "{}{H100}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 16\n{}",
        sim("6h"),
        r#"
[[tenants]]
name = "a"
[[tenants]]
name = "b"

[[inference]]
name = "chat"
tenant = "a"
model_gb = 70
tokens_per_s_per_gpu = { H100 = 1000 }
demand_tokens_per_s = 4000

[[batch]]
name = "bulk"
tenant = "b"
model_gb = 70
tokens_per_s_per_gpu = { H100 = 3900 }
job_tokens = "1B"
arrivals_per_hour = 2
backlog_jobs = 3

[[training]]
name = "train"
tenant = "b"
tokens_per_s_per_gpu = { H100 = 650 }
checkpoint_interval = "30m"
jobs = [{ at = "1h", gpus = 8, tokens = "10B" }]
"#
    );
    let base = scenario(&text);
    for k in [1000.0, 1e13, 1e300, f64::INFINITY, f64::NAN] {
        let mut sc = base.clone();
        sc.scale_switch_costs(k);
        for g in &sc.gpu_types {
            assert!(g.tenant_switch <= fleetsim::units::MAX_DURATION, "{k}");
            assert!(
                g.model_load_time(1e300) <= fleetsim::units::MAX_DURATION,
                "{k}"
            );
        }
        for name in POLICIES {
            run(&sc, name);
        }
    }
}
