//! Money, energy and work: every breakdown adds up to its total for every policy, energy stays
//! between its idle floor and its TDP ceiling, contracts bill as documented, and the seed's
//! margin anchors hold as scenarios.

mod common;
use common::*;

use fleetsim::config::{self, Scenario};
use fleetsim::policy::POLICIES;
use fleetsim::report::Report;

fn shipped(name: &str) -> Scenario {
    let path = format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    config::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

fn run_plain(sc: &Scenario, policy: &str) -> Report {
    let mut sc = sc.clone();
    sc.policy = policy.into();
    fleetsim::run_scenario(&sc).unwrap_or_else(|e| panic!("{policy}: {e}"))
}

/// One 8-GPU H100 node with on-demand and spot prices, four hours, no failures; append tenants
/// and workloads.
fn one_priced_node() -> String {
    format!(
        "[simulation]\nhorizon = \"4h\"\nseed = 1\nfailures = false\n{H100_PRICED}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 8\n"
    )
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The parts of every money, energy and work figure add up, and energy is bounded.
fn check_books(sc: &Scenario, r: &Report) {
    let p = &r.policy;
    let e = &r.economics;
    let c = &e.revenue_by_contract;
    assert!(same(
        c.committed + c.on_demand + c.spot + c.per_token - e.sla_credits_usd,
        e.revenue_usd
    ));
    assert!(
        same(e.cost_by_part.capital + e.cost_by_part.energy, e.cost_usd),
        "{p}"
    );
    let sum = |f: &dyn Fn(&fleetsim::report::TypeFigures) -> f64| -> f64 {
        r.by_gpu_type.values().map(f).sum()
    };
    assert!(
        same(sum(&|t| t.revenue_usd), e.revenue_usd),
        "{p}: types' revenue"
    );
    assert!(same(sum(&|t| t.cost_usd), e.cost_usd), "{p}: types' cost");
    assert!(
        same(sum(&|t| t.energy.kwh), r.energy.kwh),
        "{p}: types' energy"
    );
    assert!(
        same(sum(&|t| t.billed_gpu_hours), e.billed_gpu_hours),
        "{p}"
    );
    assert!(
        same(sum(&|t| t.work.h100_gpu_hours), r.work.h100_gpu_hours),
        "{p}"
    );
    let tenants = |f: &dyn Fn(&fleetsim::report::TenantFigures) -> f64| -> f64 {
        r.by_tenant.values().map(f).sum()
    };
    assert!(
        same(tenants(&|t| t.revenue_usd), e.revenue_usd),
        "{p}: tenants' revenue"
    );
    assert!(
        same(tenants(&|t| t.sla_credits_usd), e.sla_credits_usd),
        "{p}"
    );
    assert!(
        same(tenants(&|t| t.billed_gpu_hours), e.billed_gpu_hours),
        "{p}"
    );
    assert!(
        same(tenants(&|t| t.work.h100_gpu_hours), r.work.h100_gpu_hours),
        "{p}"
    );
    assert!(same(
        tenants(&|t| t.guarantee_shortfall_gpu_hours),
        e.guarantee_shortfall_gpu_hours
    ));
    let kinds: f64 = r.by_kind.values().map(|k| k.work.h100_gpu_hours).sum();
    assert!(same(kinds, r.work.h100_gpu_hours), "{p}: kinds' work");
    assert!(same(
        e.billed_utilization,
        e.billed_gpu_hours / r.gpu_hours.total
    ));
    assert!(same(
        e.cost_by_part.energy,
        r.energy.kwh * sc.economics.energy_usd_per_kwh
    ));
    // Energy: at least every GPU not down at its idle share plus its host, at most every GPU
    // at TDP plus its host; the peak interval at least the mean.
    for (name, t) in &r.by_gpu_type {
        let g = sc.gpu_types.iter().find(|g| &g.name == name).unwrap();
        let pw = &g.power;
        let up = t.gpu_hours.total - t.gpu_hours.down;
        let floor = up * (pw.idle.min(pw.switching).min(pw.decode) * pw.tdp_w + pw.host_w) * pw.pue;
        let ceiling = t.gpu_hours.total * (pw.tdp_w + pw.host_w) * pw.pue;
        let kwh = t.energy.kwh * 1e3; // Wh
        assert!(
            kwh >= floor * (1.0 - 1e-9),
            "{p} {name}: {kwh} Wh below the idle floor {floor}"
        );
        assert!(
            kwh <= ceiling * (1.0 + 1e-9),
            "{p} {name}: {kwh} Wh above the ceiling {ceiling}"
        );
        assert!(
            t.energy.peak_mw >= t.energy.mean_mw * (1.0 - 1e-9),
            "{p} {name}"
        );
    }
    // Capital accrues on every GPU-hour, used or not.
    let capital: f64 = (r.by_gpu_type.iter())
        .map(|(n, t)| {
            let g = sc.gpu_types.iter().find(|g| &g.name == n).unwrap();
            g.capital_usd_per_gpu_hour * t.gpu_hours.total
        })
        .sum();
    assert!(same(capital, e.cost_by_part.capital), "{p}");
}

#[test]
fn the_books_add_up_for_every_policy_on_the_default_region() {
    let sc = shipped("fleet.toml");
    for policy in POLICIES {
        let r = run_plain(&sc, policy);
        check_books(&sc, &r);
        // Take-or-pay: a committed tenant is billed at least every reserved hour.
        for (name, t) in &r.by_tenant {
            if t.contract == "committed" {
                assert!(
                    t.billed_gpu_hours >= t.reserved_gpus as f64 * r.horizon_hours * (1.0 - 1e-9),
                    "{policy} {name}"
                );
            }
        }
    }
}

#[test]
fn the_neocloud_rental_anchor_gives_the_reported_margin() {
    // 720 of 1,024 H100 sold on take-or-pay at $2.50; capital $1.40 and energy at $0.08/kWh:
    // about 14 % gross margin, the figure reported for one large provider's GPU rental.
    let sc = shipped("neocloud_rental.toml");
    for policy in POLICIES {
        let r = run_plain(&sc, policy);
        check_books(&sc, &r);
        let e = &r.economics;
        assert!(
            (e.gross_margin - 0.14).abs() <= 0.02,
            "{policy}: margin {:.3}",
            e.gross_margin
        );
        assert!(
            (e.billed_utilization - 720.0 / 1024.0).abs() < 1e-3,
            "{policy}"
        );
        assert!(e.revenue_by_contract.committed > 0.0);
        assert_eq!(
            e.burst_usd, 0.0,
            "{policy}: nobody holds beyond its reservation"
        );
    }
}

#[test]
fn the_multitenant_mix_reaches_the_hyperscale_band_only_when_pooled() {
    // The same fleet, 62.5 % committed, a first-party per-token service and spot demand:
    // pooled policies sell the idle GPUs as spot and land in the 24-40 % band; the static
    // partition, which gives the spot tenant nothing, stays below it.
    let sc = shipped("hyperscale_mix.toml");
    let dedicated = run_plain(&sc, "dedicated");
    check_books(&sc, &dedicated);
    assert!(dedicated.economics.gross_margin < 0.24);
    assert_eq!(dedicated.economics.revenue_by_contract.spot, 0.0);
    for policy in POLICIES.iter().filter(|p| **p != "dedicated") {
        let r = run_plain(&sc, policy);
        check_books(&sc, &r);
        let m = r.economics.gross_margin;
        assert!((0.24..=0.40).contains(&m), "{policy}: margin {m:.3}");
        assert!(r.economics.revenue_by_contract.spot > 0.0, "{policy}");
        assert!(r.economics.billed_utilization > dedicated.economics.billed_utilization);
    }
}

#[test]
fn per_token_tenants_pay_for_output_and_prompt_tokens() {
    // The Azure replay, with its traces from `../shared/traces` (skipped where absent).
    let Some(dir) = shared_traces() else { return };
    let path = format!(
        "{}/configs/azure_two_tenants.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let opts = config::LoadOptions {
        trace_dir: Some(dir),
        ..Default::default()
    };
    let sc =
        config::load_with(std::path::Path::new(&path), &opts).unwrap_or_else(|e| panic!("{e}"));
    let r = run_plain(&sc, "first_fit");
    check_books(&sc, &r);
    for ten in &sc.tenants {
        if let fleetsim::workload::Contract::PerToken {
            usd_per_million_output,
            usd_per_million_input,
            ..
        } = ten.contract
        {
            let t = &r.by_tenant[&ten.name];
            assert!(
                t.prompt_tokens > 0.0,
                "{}: the trace gives prompts",
                ten.name
            );
            let want =
                (usd_per_million_output * t.tokens + usd_per_million_input * t.prompt_tokens) / 1e6
                    - t.sla_credits_usd;
            assert!(same(t.revenue_usd, want), "{}", ten.name);
        }
    }
}

#[test]
fn on_demand_and_spot_bill_every_hour_held_and_spot_work_yields() {
    // One node. The spot tenant's job starts at 0; at 1 h a committed tenant (8 reserved)
    // needs the node: the spot job is evicted (spot work is preemptible even though the
    // workload does not say so) and comes back once the committed job is done.
    let sc = scenario(&format!(
        "{}
[[tenants]]
name = \"c\"
reserved_gpus = {{ H100 = 8 }}
[[tenants]]
name = \"s\"
contract = \"spot\"
[[training]]
name = \"js\"
tenant = \"s\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = \"1T\" }}]
[[training]]
name = \"jc\"
tenant = \"c\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"1h\", gpus = 8, tokens = 18_720_000 }}]
",
        one_priced_node()
    ));
    assert!(sc.workloads[0].preemptible, "spot work is evictable");
    let r = run(&sc, "first_fit");
    assert_eq!(r.jobs.preemptions, 1);
    let s = &r.by_tenant["s"];
    // Held from 0 to 1 h (its 5-minute restart included); c's job ends at 1 h + 18 min of
    // switch + 5 min of restart + 1 h; s's job holds the node again after switching back.
    let c_done = 1.0 + 0.3 + 5.0 / 60.0 + 1.0;
    let held = 8.0 * (1.0 + (4.0 - c_done - 0.3));
    assert_close(s.held_gpu_hours, held);
    assert_close(s.revenue_usd, held * 2.46);
    assert_eq!(s.contract, "spot");
    let c = &r.by_tenant["c"];
    // Take-or-pay: 8 GPUs x 4 h at $2.50, less the credit for the 18-minute switch.
    assert_close(c.billed_gpu_hours, 32.0);
    assert_close(c.revenue_usd, 32.0 * 2.5 - 8.0 * 0.3 * 2.5);
    assert_close(r.economics.revenue_by_contract.spot, held * 2.46);
}

#[test]
fn an_on_demand_tenant_pays_the_list_price_for_what_it_holds() {
    let sc = scenario(&format!(
        "{}
[[tenants]]
name = \"o\"
contract = \"on_demand\"
[[training]]
name = \"jo\"
tenant = \"o\"
tokens_per_s_per_gpu = {{ H100 = 650 }}
checkpoint_interval = \"30m\"
jobs = [{{ at = \"0s\", gpus = 8, tokens = 18_720_000 }}]
",
        one_priced_node()
    ));
    let r = run(&sc, "first_fit");
    let o = &r.by_tenant["o"];
    // 1 h of training and its 5-minute restart, at $6.16.
    let held = 8.0 * (1.0 + 5.0 / 60.0);
    assert_close(o.held_gpu_hours, held);
    assert_close(o.billed_gpu_hours, held);
    assert_close(o.revenue_usd, held * 6.16);
    assert_close(r.economics.revenue_by_contract.on_demand, held * 6.16);
    assert_close(r.economics.revenue_per_gpu_hour.on_demand.unwrap(), 6.16);
    assert_eq!(r.economics.revenue_per_gpu_hour.spot, None);
}
