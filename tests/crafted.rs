//! Tiny scenarios whose GPU-hours, switch charges and tokens are computed by hand.

#[macro_use]
mod common;
use common::*;

const H: f64 = 1.0; // hours, for readability

#[test]
fn one_training_job_pays_its_restart_and_trains_its_tokens() {
    // 8 GPUs x 650 tokens/s x 3600 s = 18.72 M tokens: exactly one hour on the node.
    let sc = scenario(&format!(
        "{ONE_NODE}
[[tenants]]
name = \"a\"
[[training]]
name = \"job\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]
"
    ));
    for policy in ["first_fit", "dedicated"] {
        let r = run(&sc, policy);
        let g = &r.gpu_hours;
        assert_close(g.total, 8.0 * 4.0 * H);
        assert_close(g.workflow_switch, 8.0 * 5.0 / 60.0);
        assert_close(g.productive, 8.0 * H);
        assert_close(g.tenant_switch, 0.0);
        assert_close(g.idle, 32.0 - 8.0 - 8.0 * 5.0 / 60.0);
        assert_close(r.tokens, 18.72e6);
        assert_close(r.tokens_per_gpu_hour, 18.72e6 / 32.0);
        assert_close(r.gpu_utilization, 0.25);
        assert_eq!((r.jobs.submitted, r.jobs.completed), (1, 1));
        assert_eq!((r.switches.tenant, r.switches.workflow), (0, 1));
        assert_close(r.jobs.completion_hours.p50.unwrap(), 1.0 + 5.0 / 60.0);
        let m = r.by_kind["training"].makespan_hours;
        assert!(!m.censored);
        assert_close(m.hours.unwrap(), 1.0 + 5.0 / 60.0);
        assert_eq!(r.by_kind["batch"].makespan_hours.hours, None);
        // Revenue: no reservation, so every GPU-hour held (8 productive and the 8 x 5 min
        // restart, which the tenant pays for) at the burst price, here the committed $2.50
        // (the type has no spot price).
        let held = 8.0 + 8.0 * 5.0 / 60.0;
        assert_close(r.economics.revenue_usd, 2.5 * held);
        assert_close(r.economics.billed_gpu_hours, held);
        assert_close(r.by_tenant["a"].held_gpu_hours, held);
        // Energy at the default power model (PUE 1.3): training at 100 % of 700 W, the
        // restart and idle GPUs at 11 %, and 300 W of host per GPU throughout.
        let w = |share: f64| share * 700.0 * 1.3;
        let kwh = (8.0 * w(1.0) + (32.0 - 8.0) * w(0.11) + 32.0 * 300.0 * 1.3) / 1e3;
        assert_close(r.energy.kwh, kwh);
        assert_close(r.energy.mean_mw, kwh / 4.0 / 1e3);
        // Busy for the first hour after the restart: the peak 15 minutes draw it all.
        assert_close(r.energy.peak_mw, (8.0 * w(1.0) + 300.0 * 1.3 * 8.0) / 1e6);
        // Cost: 32 GPU-hours of capital at $1.50, energy at $0.08/kWh.
        assert_close(r.economics.cost_by_part.capital, 48.0);
        assert_close(r.economics.cost_by_part.energy, kwh * 0.08);
        assert_close(r.economics.cost_usd, 48.0 + kwh * 0.08);
        // Work: 18.72 M tokens at 650 tokens/s per H100 = 8 H100 GPU-hours.
        assert_close(r.work.h100_gpu_hours, 8.0);
        assert_close(r.work.per_gpu_hour.unwrap(), 8.0 / 32.0);
    }
}

#[test]
fn a_second_tenant_pays_the_tenant_switch_on_the_whole_node() {
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
jobs = [{{ at = \"1m\", gpus = 4, tokens = 9_360_000 }}]
"
    ));
    let r = run(&sc, "first_fit");
    // a: restart 5 min, runs 1 h. b (4 GPUs) cannot share the node with a (isolation), so it
    // waits until 1:05, then the whole node is re-provisioned (8 GPUs x 18 min), then b's 4
    // GPUs restart (5 min) and train for 1 h.
    let g = &r.gpu_hours;
    assert_close(g.tenant_switch, 8.0 * 18.0 / 60.0);
    assert_close(g.workflow_switch, 8.0 * 5.0 / 60.0 + 4.0 * 5.0 / 60.0);
    assert_close(g.productive, 8.0 + 4.0);
    assert_close(
        g.idle,
        32.0 - g.productive - g.tenant_switch - g.workflow_switch,
    );
    assert_eq!((r.switches.tenant, r.switches.workflow), (1, 2));
    assert_close(r.by_tenant["b"].tenant_switch_gpu_hours, 8.0 * 18.0 / 60.0);
    assert_close(r.by_tenant["a"].tenant_switch_gpu_hours, 0.0);
    // b arrived at 0:01 and started at 1:05; a did not wait. p99 interpolates between them.
    assert_close(r.jobs.wait_hours.p99.unwrap(), 0.99 * (1.0 + 4.0 / 60.0));
    assert_close(r.jobs.wait_hours.mean.unwrap(), (1.0 + 4.0 / 60.0) / 2.0);
    assert_close(r.tokens, 18.72e6 + 9.36e6);
    // The kind's last job, b, ends at 1:05 + 18 min + 5 min + 1 h.
    let m = r.by_kind["training"].makespan_hours;
    assert!(!m.censored);
    assert_close(m.hours.unwrap(), 2.0 + 28.0 / 60.0);
    // Cut at 2 h, b is not done: the makespan is at least the horizon.
    let mut short = sc.clone();
    short.horizon = 2 * 3_600_000_000;
    let m = run(&short, "first_fit").by_kind["training"].makespan_hours;
    assert!(m.censored);
    assert_close(m.hours.unwrap(), 2.0);
}

/// A one-GPU node type, defined in the config like any other.
const TINY: &str = r#"
[simulation]
horizon = "10h"
seed = 3
failures = false

[gpu_types.X1]
hbm_gb = 100
tdp_w = 500
node_gpus = 1
nvlink_domain_gpus = 1
price_usd_per_gpu_hour = 2.0
capital_usd_per_gpu_hour = 1.0
tenant_switch = "30m"
model_load_fixed = "60s"
model_load_gb_per_s = 1
training_restart = "10m"

[[pools]]
gpu_type = "X1"
gpus = 1

[[tenants]]
name = "a"
"#;

#[test]
fn the_same_workflow_resuming_pays_nothing() {
    // Two batch jobs of one workload, one after the other on one GPU: the model (40 GB at
    // 1 GB/s + 60 s = 100 s) is loaded once.
    let sc = scenario(&format!(
        "{TINY}
[[batch]]
name = \"b\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = {{ X1 = 1000 }}
job_tokens = 3_600_000
backlog_jobs = 2
"
    ));
    let r = run(&sc, "first_fit");
    assert_eq!(r.switches.workflow, 1);
    assert_close(r.gpu_hours.workflow_switch, 100.0 / 3600.0);
    assert_close(r.gpu_hours.productive, 2.0);
    assert_eq!(r.jobs.completed, 2);
    assert_close(r.by_kind["batch"].tokens, 7.2e6);
}

#[test]
fn a_jobs_model_load_is_booked_up_to_the_horizon_and_its_run_from_the_loads_end() {
    // A job's load is not an event: the books still split its GPU time at the load's end.
    // The model takes 100 s to load; the job needs 1 h of running.
    let batch = "
[[batch]]
name = \"b\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = { X1 = 1000 }
job_tokens = 3_600_000
backlog_jobs = 1
";
    // The horizon falls inside the load: 60 s of switching, nothing run.
    let sc = scenario(&format!("{}{batch}", TINY.replace("\"10h\"", "\"1m\"")));
    let r = run(&sc, "first_fit");
    assert_close(r.gpu_hours.workflow_switch, 60.0 / 3600.0);
    assert_close(r.gpu_hours.productive, 0.0);
    assert_close(r.tokens, 0.0);
    // The horizon falls 10 min into the run: the whole load, then 10 min of tokens.
    let sc = scenario(&format!("{}{batch}", TINY.replace("\"10h\"", "\"700s\"")));
    let r = run(&sc, "first_fit");
    assert_close(r.gpu_hours.workflow_switch, 100.0 / 3600.0);
    assert_close(r.gpu_hours.productive, 600.0 / 3600.0);
    assert_close(r.tokens, 600.0 * 1000.0);
    assert_eq!(r.jobs.completed, 0);
    // Long enough: it completes exactly 1 h after its load ended.
    let r = run(&scenario(&format!("{TINY}{batch}")), "first_fit");
    assert_eq!(r.jobs.completed, 1);
    assert_close(
        r.jobs.completion_hours.p50.unwrap(),
        (100.0 + 3600.0) / 3600.0,
    );
}

/// A service of replicas of 2,000 tokens/s (`C`, one GPU each) serving `demand` tokens/s on
/// `gpus` GPUs, with `extra` lines in the service's section.
fn service_on(gpus: u32, horizon: &str, demand: f64, extra: &str) -> fleetsim::report::Report {
    let sc = scenario(&format!(
        "{}
[[inference]]
name = \"svc\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = {{ X1 = 2000 }}
demand_tokens_per_s = {demand}
min_replicas = 1
{extra}
",
        TINY.replace("\"10h\"", &format!("\"{horizon}\"")).replace(
            "gpus = 1\n\n[[tenants]]",
            &format!("gpus = {gpus}\n\n[[tenants]]")
        )
    ));
    run(&sc, "first_fit")
}

/// One replica of 2,000 tokens/s on the one GPU of the fleet.
fn one_replica_service(horizon: &str, demand: f64, extra: &str) -> fleetsim::report::Report {
    service_on(1, horizon, demand, extra)
}

#[test]
fn a_cold_start_queues_the_first_demand_until_the_model_is_loaded() {
    // 1,000 tokens/s demanded from 0; one replica of 2,000 tokens/s serves after its 100 s
    // load. The 100 s of demand that waited drains at the 1,000 tokens/s to spare by 200 s:
    // the token arriving at `a` is served at 100 + a/2 s, a delay of 100 - a/2 s, so the
    // first waits 100 s and those arriving before 196 s wait more than the 2 s SLO.
    let r = one_replica_service("10h", 1000.0, "");
    let horizon_s = 36_000.0;
    let svc = &r.by_service["svc"];
    assert_close(r.inference.demanded_tokens, 1000.0 * horizon_s);
    assert_close(r.inference.served_tokens, 1000.0 * horizon_s);
    assert_close(svc.queued_tokens, 0.0);
    assert_close(svc.dropped_tokens, 0.0);
    assert_close(svc.delay_s.max, 100.0);
    // 200,000 tokens waited 50 s on average; the rest not at all.
    assert_close(svc.delay_s.mean, 200_000.0 * 50.0 / (1000.0 * horizon_s));
    assert_close(svc.served_within_slo_tokens, 1000.0 * (horizon_s - 196.0));
    assert_close(
        r.by_tenant["a"].slo_attainment.unwrap(),
        (horizon_s - 196.0) / horizon_s,
    );
    assert_close(
        r.inference.worst_slo_attainment.unwrap(),
        (horizon_s - 196.0) / horizon_s,
    );
    assert_close(r.gpu_hours.productive, (horizon_s - 100.0) / 3600.0);
    assert_eq!(r.inference.replicas_started, 1);
    assert_eq!(svc.cold_starts, 1);
    assert_close(svc.gpu_hours, horizon_s / 3600.0);
    // With demand dropped after 30 s of waiting, what waited longer is gone instead: the
    // front reaches 30 s of age at once and holds it until the load ends, so arrivals in
    // [0, 70) s are dropped (70,000 tokens) and the rest is served.
    let r = one_replica_service("10h", 1000.0, "abandon_after = \"30s\"");
    let svc = &r.by_service["svc"];
    assert_close(svc.dropped_tokens, 70_000.0);
    assert_close(svc.served_tokens + svc.dropped_tokens, 1000.0 * horizon_s);
    assert_close(svc.delay_s.max, 30.0);
}

#[test]
fn a_demand_step_queues_drains_and_delays_as_worked_out_by_hand() {
    // Capacity C = 2,000 tokens/s fixed (one replica); demand 0.5 C, then 2 C from 2 h to 3 h,
    // then 0.5 C. The queue peaks at one hour of capacity at 3 h, the burst's last token waits
    // an hour, and the queue is empty two hours later, at 5 h.
    let extra = "autoscaler = { max_replicas = 1 }
demand_changes = [{ at = \"2h\", factor = 4 }, { at = \"3h\", factor = 1 }]";
    let queued_at = |h: &str| one_replica_service(h, 1000.0, extra).by_service["svc"].queued_tokens;
    assert_close(queued_at("3h"), 2000.0 * 3600.0);
    assert_close(queued_at("4h"), 0.5 * 2000.0 * 3600.0);
    assert_close(queued_at("5h"), 0.0);
    let r = one_replica_service("10h", 1000.0, extra);
    let svc = &r.by_service["svc"];
    assert_close(svc.delay_s.max, 3600.0);
    // Late (over 2 s): the cold start's first 196 s of arrivals (196,000 tokens); burst
    // arrivals at `a` wait `a - 2 h`, so all but its first 2 s (4,000 x 3,598); after it,
    // arrivals at `a` wait `2.5 h - a / 2`, so those before 5 h - 4 s (1,000 x 7,196).
    let demanded = 1000.0 * 36_000.0 + 3000.0 * 3600.0;
    let late = 196_000.0 + 4000.0 * 3598.0 + 1000.0 * 7196.0;
    assert_close(svc.demanded_tokens, demanded);
    assert_close(svc.served_tokens, demanded);
    assert_close(svc.served_within_slo_tokens, demanded - late);
    assert_close(svc.slo_attainment.unwrap(), (demanded - late) / demanded);
    assert_eq!(svc.replicas.max, 1);
}

#[test]
fn demand_above_capacity_is_counted_unserved() {
    // Demand 3,000 tokens/s, but the fleet holds one replica of 2,000 tokens/s.
    let sc = scenario(&format!(
        "{TINY}
[[inference]]
name = \"svc\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = {{ X1 = 2000 }}
demand_tokens_per_s = 3000
"
    ));
    let r = run(&sc, "first_fit");
    let horizon_s = 36_000.0;
    assert_close(r.inference.served_tokens, 2000.0 * (horizon_s - 100.0));
    assert_close(r.inference.demanded_tokens, 3000.0 * horizon_s);
    // What was not served still waits: nothing is lost without `abandon_after`.
    assert_close(
        r.inference.queued_tokens,
        3000.0 * horizon_s - 2000.0 * (horizon_s - 100.0),
    );
    assert_close(r.inference.dropped_tokens, 0.0);
}

#[test]
fn guaranteed_work_preempts_training_which_loses_work_since_its_checkpoint() {
    // A preemptible training job starts at 0 (restart 10 min) with 30-min checkpoints. At
    // 2 h a service's demand appears and its replica preempts the job: the job ran 1 h 50 min,
    // checkpointed 1 h 30 min, and loses 20 min of tokens. The replica is the same tenant's
    // other workflow: a model load (100 s), no tenant switch.
    let sc = scenario(&format!(
        "{TINY}
[[training]]
name = \"t\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ X1 = 1000 }}
checkpoint_interval = \"30m\"
preemptible = true
jobs = [{{ at = \"0s\", gpus = 1, tokens = \"1T\" }}]

[[inference]]
name = \"svc\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = {{ X1 = 2000 }}
demand_tokens_per_s = 1000
min_replicas = 0
demand_changes = [{{ at = \"0s\", factor = 0 }}, {{ at = \"2h\", factor = 1 }}]
autoscaler = {{ mode = \"oracle\" }}
"
    ));
    let r = run(&sc, "first_fit");
    assert_eq!(r.jobs.preemptions, 1);
    assert_close(r.engine_stats.tokens_lost, 1000.0 * 20.0 * 60.0);
    // Training: 1 h 30 min of kept tokens; service: 8 h at 1,000 tokens/s (the oracle
    // autoscaler places the replica at 2 h; what arrives during its load waits, then is served).
    assert_close(r.by_kind["training"].tokens, 1000.0 * 5400.0);
    assert_close(r.by_kind["inference"].tokens, 1000.0 * 8.0 * 3600.0);
    assert_eq!(r.by_service["svc"].autoscaler, "oracle");
    assert_close(r.gpu_hours.workflow_switch, (600.0 + 100.0) / 3600.0);
    assert_close(r.gpu_hours.productive, 110.0 / 60.0 + 8.0 - 100.0 / 3600.0);
    assert_eq!(r.jobs.queued, 1);
    assert_eq!(r.switches.tenant, 0);
}

#[test]
fn batch_is_preempted_for_another_tenants_training_and_keeps_its_tokens() {
    // Tenant b's batch holds the only GPU; tenant a's training arrives at 1 h and takes it:
    // batch keeps all 1 h - 100 s of tokens, the GPU is re-provisioned (30 min) and a's job
    // restarts (10 min).
    let sc = scenario(&format!(
        "{TINY}
[[tenants]]
name = \"b\"

[[batch]]
name = \"bb\"
tenant = \"b\"
model_gb = 40
tokens_per_s_per_gpu = {{ X1 = 1000 }}
job_tokens = \"1T\"
backlog_jobs = 1

[[training]]
name = \"t\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ X1 = 1000 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"1h\", gpus = 1, tokens = 3_600_000 }}]
"
    ));
    let r = run(&sc, "first_fit");
    assert_eq!(r.jobs.preemptions, 1);
    assert_close(r.engine_stats.tokens_lost, 0.0);
    // a trains 1 h from 1:40; at 2:40 b's batch returns: tenant switch (30 min), model
    // load (100 s), then it runs to the horizon at 10 h.
    let second = 36_000.0 - (2.0 * 3600.0 + 2400.0) - 1800.0 - 100.0;
    assert_close(
        r.by_kind["batch"].tokens,
        1000.0 * (3600.0 - 100.0 + second),
    );
    assert_close(r.gpu_hours.tenant_switch, 1.0);
    assert_close(
        r.gpu_hours.workflow_switch,
        (100.0 + 600.0 + 100.0) / 3600.0,
    );
    assert_close(r.by_kind["training"].tokens, 3.6e6);
    assert_eq!(r.switches.tenant, 2);
    assert_close(r.by_tenant["a"].tenant_switch_gpu_hours, 0.5);
    assert_close(r.by_tenant["b"].tenant_switch_gpu_hours, 0.5);
    assert_eq!(r.jobs.completed, 1);
}

/// Two NVL72 racks (36 trays of 4 GPUs), no failures.
const TWO_RACKS: &str = concat!(
    r#"
[simulation]
horizon = "10h"
seed = 5
failures = false
"#,
    gb200_type!(),
    h100_type!(),
    r#"
[[pools]]
gpu_type = "GB200"
gpus = 144

[[pools]]
gpu_type = "H100"
gpus = 64

[[tenants]]
name = "a"
[[tenants]]
name = "b"
"#
);

#[test]
fn wide_gangs_fit_only_inside_one_nvl72_rack() {
    // A 4-GPU job takes a tray of rack 0, so the first 72-GPU wide gang must use rack 1; the
    // second waits for a whole rack; a 64-GPU wide gang on H100 alone can never run.
    // Each gang trains 1 h: 72 GPUs x 1,300 tokens/s x 3,600 s.
    let sc = scenario(&format!(
        "{TWO_RACKS}
[[training]]
name = \"small\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
jobs = [{{ at = \"0s\", gpus = 4, tokens = \"1T\" }}]

[[training]]
name = \"wide\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
wide_nvlink = true
jobs = [
  {{ at = \"1s\", gpus = 72, tokens = 336_960_000 }},
  {{ at = \"2s\", gpus = 72, tokens = 336_960_000 }},
]

[[training]]
name = \"wide-h100\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"1h\"
wide_nvlink = true
jobs = [{{ at = \"0s\", gpus = 64, tokens = 1000 }}]
"
    ));
    let r = run(&sc, "first_fit");
    assert_eq!(r.jobs.rejected, 1);
    assert_eq!(r.jobs.completed, 2);
    // The second wide gang waited for the first (restart 5 min + 1 h) minus its 1 s head start.
    let waited = 1.0 + 5.0 / 60.0 - 1.0 / 3600.0;
    assert_close(r.jobs.wait_hours.p99.unwrap(), {
        // waits sorted: 0 (small), 0 (first wide), `waited`; p99 interpolates the top two.
        0.0 + 0.98 * waited
    });
}

#[test]
fn two_tenants_share_a_rack_but_never_a_tray() {
    // a and b each run a 2-GPU job: each gets its own tray (no tenant switch, no waiting),
    // even though one tray could hold both jobs.
    let sc = scenario(&format!(
        "{TWO_RACKS}
[[training]]
name = \"ja\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
jobs = [{{ at = \"0s\", gpus = 2, tokens = 9_360_000 }}]

[[training]]
name = \"jb\"
tenant = \"b\"
tokens_per_s_per_gpu = {{ GB200 = 1300 }}
reference_tokens_per_s_per_gpu = 650
checkpoint_interval = \"1h\"
jobs = [{{ at = \"0s\", gpus = 2, tokens = 9_360_000 }}]
"
    ));
    for policy in ["first_fit", "dedicated"] {
        let r = run(&sc, policy);
        assert_eq!(r.switches.tenant, 0, "{policy}");
        assert_close(r.jobs.wait_hours.p99.unwrap(), 0.0);
        assert_close(r.gpu_hours.productive, 4.0);
        assert_eq!(r.jobs.completed, 2);
    }
}

#[test]
fn k_tenants_taking_turns_on_one_node_pay_exactly_k_minus_one_tenant_switches() {
    // k tenants each submit one 8-GPU, 1-hour job to a single node, a second apart. They run
    // one after another: the first needs no tenant switch (the node is fresh), each later one
    // pays 8 GPUs x 18 min; every job pays its 5-min restart.
    for k in 1..=5u32 {
        let mut text = ONE_NODE.replace("horizon = \"4h\"", "horizon = \"8h\"");
        for i in 0..k {
            text.push_str(&format!(
                "
[[tenants]]
name = \"t{i}\"
[[training]]
name = \"j{i}\"
tenant = \"t{i}\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"{i}s\", gpus = 8, tokens = 18_720_000 }}]
"
            ));
        }
        let sc = scenario(&text);
        for policy in [
            "first_fit",
            "best_fit",
            "heterogeneity_aware",
            "switch_aware",
            "fair_share",
        ] {
            let r = run(&sc, policy);
            let k = k as f64;
            assert_close(r.gpu_hours.tenant_switch, (k - 1.0) * 8.0 * 18.0 / 60.0);
            assert_close(r.gpu_hours.workflow_switch, k * 8.0 * 5.0 / 60.0);
            assert_close(r.gpu_hours.productive, k * 8.0);
            assert_eq!(r.switches.tenant as f64, k - 1.0, "{policy}");
            assert_eq!(r.jobs.completed as f64, k, "{policy}");
        }
    }
}

#[test]
fn a_held_backlog_runs_in_order_and_counts_as_queued_until_it_starts() {
    // 1,000 one-hour batch jobs (1 GPU each, 3,900 tokens/s) on one 8-GPU node for 4 h,
    // held as a count: 8 run at a time after a 20 s model load, each taking exactly 1 h.
    let sc = scenario(&format!(
        "{ONE_NODE}
[[tenants]]
name = \"a\"
[[batch]]
name = \"b\"
tenant = \"a\"
model_gb = 40
tokens_per_s_per_gpu = {{ H100 = 3900 }}
gpus_per_replica = {{ H100 = 1 }}
job_tokens = 14_040_000
backlog_jobs = 1000
"
    ));
    for policy in ["first_fit", "best_fit", "fair_share"] {
        let r = run(&sc, policy);
        // Three waves of 8 complete (the model loads once per GPU); the fourth is running.
        assert_eq!(r.jobs.submitted, 1000);
        assert_eq!((r.jobs.completed, r.jobs.running), (24, 8), "{policy}");
        assert_eq!(r.jobs.queued, 1000 - 32);
        // Waits: waves start at 0 and at k h + the load (20 s + 40 GB at 25 GB/s = 21.6 s);
        // the 968 jobs that never started count, censored, with the 4 h they waited.
        let load = 21.6 / 3600.0;
        let w = r.jobs.wait_hours;
        assert_eq!((w.count, w.censored), (1000, 968), "{policy}");
        assert_eq!(r.jobs.never_started["batch"], 968);
        assert_eq!(r.jobs.never_started["training"], 0);
        assert_close(w.p50.unwrap(), 4.0);
        let mean = (8.0 * (6.0 + 3.0 * load) + 968.0 * 4.0) / 1000.0;
        assert_close(w.mean.unwrap(), mean);
        // Completions: 24 done (at k h + the load), 976 censored at 4 h.
        let c = r.jobs.completion_hours;
        assert_eq!((c.count, c.censored), (1000, 976), "{policy}");
        // Time-average queue: 992 jobs until the second wave starts, then 984, 976, 968.
        let mean = (992.0 * (1.0 + load) + 984.0 + 976.0 + 968.0 * (1.0 - load)) / 4.0;
        assert_close(r.jobs.mean_queued, mean);
    }
}

#[test]
fn a_gang_that_fits_one_node_takes_one_node() {
    // Two 8-GPU nodes. A 2-GPU job starts on node 0 at 0 s, leaving 6 GPUs free there; an
    // 8-GPU job arrives at 1 s. It must take the idle node 1 whole (a tensor-parallel group
    // never spans nodes), not 6 GPUs of node 0 and 2 of node 1, and start at once. A 12-GPU
    // job arriving later takes one whole node and 4 GPUs of another.
    let sc = scenario(&format!(
        "
[simulation]
horizon = \"6h\"
seed = 1
failures = false
{H100}
[[pools]]
gpu_type = \"H100\"
gpus = 24
[[tenants]]
name = \"a\"
[[training]]
name = \"t\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [
  {{ at = \"0s\", gpus = 2, tokens = 4_680_000 }},
  {{ at = \"1s\", gpus = 8, tokens = 18_720_000 }},
  {{ at = \"2s\", gpus = 12, tokens = 28_080_000 }},
]
"
    ));
    for policy in fleetsim::policy::POLICIES {
        // The audit refuses any allocation off its shape, after every event.
        let r = run(&sc, policy);
        assert_eq!(r.jobs.completed, 3, "{policy}");
        assert_close(r.jobs.wait_hours.p99.unwrap(), 0.0);
    }
}

#[test]
fn tenant_switch_time_is_booked_when_work_that_joined_a_switch_is_released() {
    // A gang joins a node while it is being re-provisioned, then loses a node to a failure:
    // the GPU it gave back must not leave switch time that no tenant pays for. (Found by the
    // property test; its case, minimised.)
    let sc = scenario(
        r#"
[simulation]
horizon = "11h"
seed = 6629855643000090104
autoscale_interval = "10m"
[gpu_types.T0]
hbm_gb = 80
tdp_w = 700
node_gpus = 8
nvlink_domain_gpus = 24
price_usd_per_gpu_hour = 2.5
capital_usd_per_gpu_hour = 1.5
tenant_switch = "24m"
model_load_fixed = "0s"
model_load_gb_per_s = 25
training_restart = "0m"
failures_per_gpu_hour = 0.01
[[pools]]
gpu_type = "T0"
gpus = 72
[gpu_types.T1]
hbm_gb = 40
tdp_w = 700
node_gpus = 1
nvlink_domain_gpus = 3
price_usd_per_gpu_hour = 2.5
capital_usd_per_gpu_hour = 1.5
tenant_switch = "0m"
model_load_fixed = "0s"
model_load_gb_per_s = 25
training_restart = "0m"
[[pools]]
gpu_type = "T1"
gpus = 3
[[tenants]]
name = "ten0"
priority = 1
[[tenants]]
name = "ten1"
[[batch]]
name = "w0"
tenant = "ten1"
model_gb = 70
tokens_per_s_per_gpu = { T0 = 3000 }
arrivals_per_hour = 3
job_tokens = "35M"
[[training]]
name = "w1"
tenant = "ten0"
tokens_per_s_per_gpu = { T0 = 500 }
checkpoint_interval = "10m"
arrivals_per_hour = 1
sizes = [{ gpus = 12, weight = 1, tokens = "1M" }]
jobs = [{ at = "0s", gpus = 12, tokens = "1M" }]
[[inference]]
name = "w2"
tenant = "ten0"
model_gb = 10
tokens_per_s_per_gpu = { T1 = 500 }
reference_tokens_per_s_per_gpu = 500
demand_tokens_per_s = 401
[[inference]]
name = "w3"
tenant = "ten1"
model_gb = 10
tokens_per_s_per_gpu = { T0 = 500 }
demand_tokens_per_s = 4426
diurnal = { peak = 1.5, trough = 0.5 }
[[inference]]
name = "w4"
tenant = "ten0"
model_gb = 10
tokens_per_s_per_gpu = { T0 = 1000 }
demand_tokens_per_s = 6399
diurnal = { peak = 1.5, trough = 0.5 }
"#,
    );
    for policy in fleetsim::policy::POLICIES {
        // The audit checks booked + open switch time against the state integrals after
        // every event; the report's tenants add up to the fleet.
        let r = run(&sc, policy);
        let by_tenant: f64 = r
            .by_tenant
            .values()
            .map(|t| t.tenant_switch_gpu_hours)
            .sum();
        assert_close(by_tenant, r.gpu_hours.tenant_switch);
        assert!(
            r.engine_stats.failures > 0,
            "{policy}: the case needs failures"
        );
    }
}

#[test]
fn the_reactive_autoscaler_lags_a_step_by_its_window_and_delays() {
    // Demand steps from none to 3,000 tokens/s at 2 h, on the one replica of 2,000 tokens/s
    // the service keeps (loaded long before); more replicas load in 100 s on fresh GPUs.
    // Until more capacity serves at `ready`, the queue's front moves through arrivals at 2/3 s
    // per s, so the token at the front then has waited
    // (ready - 2 h) / 3, the longest wait of the run. The reactive autoscaler sees the step at
    // its next decision (5 min later: its 1-minute window saw none of it at 2 h), waits out
    // its scale-up delay, then places; the oracle places at 2 h.
    let service = |autoscaler: &str| {
        let extra = format!(
            "demand_changes = [{{ at = \"0s\", factor = 0 }}, {{ at = \"2h\", factor = 1 }}]
autoscaler = {autoscaler}"
        );
        service_on(4, "10h", 3000.0, &extra).by_service["svc"].clone()
    };
    let load = 100.0;
    for (autoscaler, lag) in [
        ("{ mode = \"oracle\" }", 0.0),
        ("{ scale_up_delay = \"0s\" }", 300.0),
        ("{ scale_up_delay = \"10m\" }", 900.0),
    ] {
        let svc = service(autoscaler);
        assert_close(svc.delay_s.max, (lag + load) / 3.0);
        assert_close(svc.served_tokens, svc.demanded_tokens);
        assert!(svc.replicas.max >= 2, "{autoscaler}");
    }
}

#[test]
fn a_model_wider_than_a_node_runs_on_whole_nodes() {
    // An R1-class model (671 GB at FP8) needs 671 / 0.7 = 959 GB of HBM: 16 H100, two nodes
    // over the network (an H100 NVLink domain is one node), at the 1,100 tokens/s per GPU
    // configured for that shape. On GB200 it fits one NVL72 domain: 8 GPUs, two 4-GPU trays
    // of the same domain.
    for (fleet, gpus, rate) in [(H100, 16.0, 1100.0), (GB200, 8.0, 2300.0)] {
        let t = if fleet == H100 { "H100" } else { "GB200" };
        let sc = scenario(&format!(
            "[simulation]
horizon = \"4h\"
seed = 1
failures = false
{fleet}
[[pools]]
gpu_type = \"{t}\"
gpus = {pool}

[[tenants]]
name = \"a\"

[[inference]]
name = \"r1\"
tenant = \"a\"
model_gb = 671
tokens_per_s_per_gpu = {{ {t} = {rate} }}
demand_tokens_per_s = 1000
",
            pool = if fleet == H100 { 16 } else { 72 }
        ));
        for policy in ["first_fit", "dedicated", "best_fit"] {
            let r = run(&sc, policy);
            let svc = &r.by_service["r1"];
            assert_eq!(svc.replicas.max, 1, "{t} {policy}");
            assert_close(svc.gpu_hours, gpus * 4.0);
            assert_close(svc.served_tokens, svc.demanded_tokens);
            // One replica of `gpus` GPUs, not a replica per node.
            assert_eq!(r.inference.replicas_started, 1, "{t} {policy}");
        }
    }
}

/// One NVL72 rack and one H100 node; a 72-GPU job holds the rack for 57 minutes while an
/// 8-GPU job of the same workload starts on the H100 node.
fn migration_scenario(migration: bool) -> fleetsim::config::Scenario {
    // B: 72 GPUs x 1,300 tokens/s x 57 min on GB200. A: one hour on H100 (8 x 650 x 3,600 =
    // 18.72 M) and then an hour on GB200 (8 x 1,300 x 3,600 = 37.44 M) if it moves.
    scenario(&format!(
        "
[simulation]
horizon = \"4h\"
seed = 1
policy = \"heterogeneity_aware\"
failures = false
migration = {migration}
{}{}
[[pools]]
gpu_type = \"GB200\"
gpus = 72

[[pools]]
gpu_type = \"H100\"
gpus = 8

[[tenants]]
name = \"a\"

[[training]]
name = \"train\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650, GB200 = 1300 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 72, tokens = 320_112_000 }}, {{ at = \"0s\", gpus = 8, tokens = 56_160_000 }}]
",
        GB200, H100
    ))
}

#[test]
fn a_training_job_moves_to_a_faster_type_at_its_checkpoint_and_pays_its_restart() {
    // Without migration the 8-GPU job trains on H100 from its 5-minute restart to the end:
    // 56.16 M / (8 x 650) = 3 h, done at 3 h 05.
    let r = run(&migration_scenario(false), "heterogeneity_aware");
    assert_eq!(r.jobs.migrations, 0);
    assert_close(
        r.by_kind["training"].makespan_hours.hours.unwrap(),
        3.0 + 5.0 / 60.0,
    );
    // With it: the rack frees at 62 min (restart 5 min + 57); the tick at 65 min finds the
    // H100 job an hour into its run, at a checkpoint (every 30 min from its start at 5 min),
    // with 2 h left that GB200 halves: 1 h saved against a 5-minute restart and a 25-minute
    // tenant switch. It moves at 65 min with nothing lost, restarts for 5 min and trains
    // the remaining 37.44 M tokens in an hour: done at 2 h 10.
    let r = run(&migration_scenario(true), "heterogeneity_aware");
    assert_eq!(r.jobs.migrations, 1);
    assert_eq!(r.jobs.completed, 2);
    assert_close(
        r.by_kind["training"].makespan_hours.hours.unwrap(),
        2.0 + 10.0 / 60.0,
    );
    assert_close(r.engine_stats.tokens_lost, 0.0);
    assert_close(r.tokens, 320.112e6 + 56.16e6);
    // Workflow switches: the rack's restart and the small job's two, 5 minutes each; the move
    // is charged as the second, and the same tenant pays no tenant switch.
    assert_close(r.gpu_hours.workflow_switch, (72.0 + 8.0 + 8.0) * 5.0 / 60.0);
    assert_close(r.gpu_hours.tenant_switch, 0.0);
    assert_eq!(r.switches.workflow, 3);
    // Other policies never move work.
    let r = run(&migration_scenario(true), "first_fit");
    assert_eq!(r.jobs.migrations, 0);
}

/// Two H100 nodes and one H200 node. Tenant a's 8-GPU job holds one H100 node for its
/// 5-minute restart and an hour; tenant b's 16-GPU gang (H100 only) arrives just after it and
/// waits; a's 1-GPU job arrives at 10 minutes and ranks H100 first.
fn drain_scenario(policy: &str) -> fleetsim::config::Scenario {
    scenario(&format!(
        "
[simulation]
horizon = \"5h\"
seed = 1
policy = \"{policy}\"
failures = false
{H100}
{}
[[pools]]
gpu_type = \"H100\"
gpus = 16

[[pools]]
gpu_type = \"H200\"
gpus = 8

[[tenants]]
name = \"a\"

[[tenants]]
name = \"b\"

[[training]]
name = \"blocker\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]

[[training]]
name = \"gang\"
tenant = \"b\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"1s\", gpus = 16, tokens = 37_440_000 }}]

[[training]]
name = \"small\"
tenant = \"a\"
tokens_per_s_per_gpu = {{ H100 = 1000, H200 = 900 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"10m\", gpus = 1, tokens = 10_800_000 }}]
",
        H100.replace("H100", "H200")
            .replace("hbm_gb = 80", "hbm_gb = 141")
    ))
}

#[test]
fn work_behind_a_waiting_gang_leaves_the_type_it_drains() {
    // best_fit puts the small job on the free H100 node (H100 first in config order, and
    // the small job is fastest there): the gang waits for both H100 jobs, the small one
    // done at 10 min + 5 min restart + 10.8 M / 1,000 = 3 h 15.
    let wait = |r: &fleetsim::report::Report| r.by_tenant["b"].training_wait_hours.p99.unwrap();
    let r = run(&drain_scenario("best_fit"), "best_fit");
    assert_close(wait(&r), 3.0 + 14.0 / 60.0 + 59.0 / 3600.0);
    assert_close(r.by_gpu_type["H200"].gpu_hours.productive, 0.0);
    // heterogeneity_aware sees the gang waiting ahead of the small job, nearest to fitting
    // on H100 (one idle node of its two), and moves H100 to the end of the small job's
    // order: the small job takes H200, and the gang starts when the blocker ends at 1 h 05.
    let r = run(
        &drain_scenario("heterogeneity_aware"),
        "heterogeneity_aware",
    );
    assert_close(wait(&r), 1.0 + 5.0 / 60.0 - 1.0 / 3600.0);
    assert!(r.by_gpu_type["H200"].gpu_hours.productive > 0.0);
    assert_eq!(r.jobs.completed, 3);
}
