//! Replaying public traces through the config: a replay with ample capacity serves exactly the
//! tokens the trace holds; windows, speed-up and looping lay the trace out as configured; job
//! traces become jobs with the configured throughput; bad rows stop the run or, leniently, are
//! counted in the report. Skipped with a message where `../shared/traces` is absent.

mod common;

use std::path::Path;

use common::{H100, run};
use fleetsim::config::{self, LoadOptions, Scenario};
use fleetsim::trace::{azure, dirlab, mooncake, servegen};
use fleetsim::workload::Spec;

use common::shared_traces as traces;

/// 64 H100 GPUs, no failures, and `rest` (tenants and workloads), with traces read from `dir`.
fn scenario(dir: &Path, horizon: &str, rest: &str) -> Scenario {
    scenario_on(dir, 64, horizon, rest)
}

fn scenario_on(dir: &Path, gpus: u32, horizon: &str, rest: &str) -> Scenario {
    let text = format!(
        "[simulation]\nhorizon = \"{horizon}\"\nseed = 1\npolicy = \"first_fit\"\nfailures = false\n{H100}\n\
         [[pools]]\ngpu_type = \"H100\"\ngpus = {gpus}\n\n[[tenants]]\nname = \"a\"\n{rest}"
    );
    let opts = LoadOptions {
        trace_dir: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    };
    config::parse_with(&text, "replay.toml", &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// An inference service on 70B weights with four warm 4-GPU replicas (62,400 tokens/s, far
/// above any trace here), replaying `trace`.
fn service(trace: &str) -> String {
    format!(
        "[[inference]]\nname = \"svc\"\ntenant = \"a\"\nmodel_gb = 140\n\
         tokens_per_s_per_gpu = {{ H100 = 3900 }}\nmin_replicas = 4\n[inference.trace]\n{trace}\n"
    )
}

#[track_caller]
fn exact(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn ample_capacity_serves_exactly_the_tokens_of_the_trace() {
    let Some(dir) = traces() else { return };
    let file = "azure_llm_2023/AzureLLMInferenceTrace_conv.csv";
    let t = azure::read(&dir.join(file), false).unwrap();
    let out: u64 = t.rows.iter().map(|r| r.output_tokens as u64).sum();
    let inp: u64 = t.rows.iter().map(|r| r.input_tokens as u64).sum();
    // The replay starts at 30 min, when the replicas have loaded; the horizon covers it all.
    let sc = scenario(
        &dir,
        "2h",
        &service(&format!(
            "reader = \"azure\"\nfile = \"{file}\"\nstart = \"30m\""
        )),
    );
    let r = run(&sc, "first_fit");
    exact(r.inference.demanded_tokens, out as f64);
    exact(r.inference.served_tokens, out as f64);
    exact(r.inference.demanded_prompt_tokens, inp as f64);
    exact(r.inference.served_prompt_tokens, inp as f64);
    exact(r.tokens, out as f64);
    let u = &r.traces[0];
    assert_eq!((u.rows, u.used, u.skipped_rows), (19_366, 19_366, 0));
    assert_eq!(u.section, "inference[0].trace");

    // From time 0, the demand that arrives while the first replicas load their model waits
    // for them rather than being lost: every token is still served by the horizon.
    let sc = scenario(
        &dir,
        "2h",
        &service(&format!("reader = \"azure\"\nfile = \"{file}\"")),
    );
    let r = run(&sc, "first_fit");
    let svc = r.by_service.values().next().unwrap();
    exact(svc.served_tokens, out as f64);
    exact(svc.queued_tokens + svc.dropped_tokens, 0.0);
    assert!(
        svc.delay_s.max > 0.0,
        "the cold start delays the first tokens"
    );

    // Sixteen times the rate on one node.
    let sc = scenario_on(
        &dir,
        8,
        "2h",
        &service(&format!(
            "reader = \"azure\"\nfile = \"{file}\"\nstart = \"30m\"\nrate_scale = 16"
        ))
        .replace("min_replicas = 4", "min_replicas = 1"),
    );
    let r = run(&sc, "first_fit");
    exact(r.inference.demanded_tokens, out as f64);
    // Too little capacity: the same demand waits, and the report says how late it was served.
    let i = &r.inference;
    exact(
        i.served_tokens + i.queued_tokens + i.dropped_tokens,
        out as f64,
    );
    assert!(i.slo_attainment < 0.8, "{}", i.slo_attainment);
    assert!(r.by_service["svc"].delay_s.max > 60.0);
}

#[test]
fn windows_speed_up_and_loops_lay_the_trace_out_as_configured() {
    let Some(dir) = traces() else { return };
    let file = "mooncake_fast25/conversation_trace.jsonl";
    let t = mooncake::read(&dir.join(file), false).unwrap();
    // The first ten minutes of trace time, replayed 2x as fast (5 min per pass), looped.
    let in_window: Vec<_> = t
        .rows
        .iter()
        .filter(|r| r.request.at < 600_000_000)
        .collect();
    let out: f64 = in_window
        .iter()
        .map(|r| r.request.output_tokens as f64)
        .sum();
    let inp: f64 = in_window
        .iter()
        .map(|r| r.request.input_tokens as f64)
        .sum();
    let sc = scenario(
        &dir,
        "65m",
        &service(&format!(
            "reader = \"mooncake\"\nfile = \"{file}\"\nstart = \"30m\"\nto = \"10m\"\nrate_scale = 2\nloop = true\nprompt_token_cost = 0.1"
        )),
    );
    let Spec::Inference(spec) = &sc.workloads[0].spec else {
        panic!()
    };
    assert_eq!(spec.replay.as_ref().unwrap().period(), 300_000_000);
    assert_eq!(spec.prompt_token_cost, 0.1);
    let r = run(&sc, "first_fit");
    // 35 minutes of replay = 7 passes.
    exact(r.inference.demanded_tokens, 7.0 * out);
    exact(r.inference.demanded_prompt_tokens, 7.0 * inp);
    exact(r.inference.served_tokens, 7.0 * out);
    assert_eq!(r.traces[0].used as usize, in_window.len());
    assert_eq!(
        r.traces[0].left_out["outside_window"] as usize,
        t.rows.len() - in_window.len()
    );
}

#[test]
fn servegen_clients_become_a_tenant_demand_curve() {
    let Some(dir) = traces() else { return };
    let file = "servegen/reason_deepseek-r1_client_rates.csv.gz";
    let t = servegen::read(&dir.join(file), false).unwrap();
    let top: Vec<&str> = servegen::clients_by_volume(&t.rows)
        .iter()
        .take(5)
        .map(|c| c.0)
        .collect();
    let requests: f64 = t
        .rows
        .iter()
        .filter(|w| top.contains(&w.client.as_str()))
        .map(|w| w.rate_rps * 600.0)
        .sum();
    // One day of the five largest clients; R1-class mean lengths from the trace README.
    let sc = scenario(
        &dir,
        "25h",
        &service(&format!(
            "reader = \"servegen\"\nfile = \"{file}\"\nstart = \"1h\"\nclient_ranks = [1, 5]\ninput_tokens = 1575.7\noutput_tokens = 2133.5"
        ))
        .replace("min_replicas = 4", "min_replicas = 12"),
    );
    let r = run(&sc, "first_fit");
    exact(r.inference.demanded_tokens, requests * 2133.5);
    exact(r.inference.demanded_prompt_tokens, requests * 1575.7);
    exact(r.inference.served_tokens, requests * 2133.5);
    assert_eq!(r.traces[0].used, 5 * 144);
}

#[test]
fn job_traces_become_jobs_at_the_throughput_they_ran_at() {
    let Some(dir) = traces() else { return };
    let file = "philly/philly_last15000_jobs_dirlab.csv";
    let cut = dirlab::read(&dir.join(file), false).unwrap();
    // Replay day 50 (the cut is sparse before day 48), 4x as fast: 6 h of simulated time.
    let day = 86_400_000_000u64;
    let want: Vec<_> = cut
        .rows
        .iter()
        .filter(|j| (50 * day..51 * day).contains(&j.submit) && j.gpus > 0 && j.run_time_s > 0.0)
        .collect();
    assert!(want.len() > 100, "{}", want.len());
    let sc = scenario(
        &dir,
        "12h",
        &format!(
            "[[training]]\nname = \"philly\"\ntenant = \"a\"\ntokens_per_s_per_gpu = {{ H100 = 650 }}\n\
             checkpoint_interval = \"1h\"\n[training.trace]\nreader = \"philly\"\nfile = \"{file}\"\n\
             from = \"50d\"\nto = \"51d\"\nrate_scale = 4\nran_on = \"P100\"\nran_on_tokens_per_s_per_gpu = 100\n"
        ),
    );
    let Spec::Training(spec) = &sc.workloads[0].spec else {
        panic!()
    };
    assert_eq!(spec.jobs.len(), want.len());
    for (j, w) in spec.jobs.iter().zip(&want) {
        assert_eq!(j.gpus, w.gpus);
        assert_eq!(j.at, (w.submit - 50 * day) / 4);
        exact(j.tokens, w.run_time_s * w.gpus as f64 * 100.0);
    }
    let r = run(&sc, "first_fit");
    assert_eq!(r.jobs.submitted as usize, want.len());
    assert!(r.jobs.completed > 0);
    assert_eq!(r.traces[0].used as usize, want.len());

    // Without `ran_on`, run times cannot become tokens: a clear error.
    let err = config::parse_with(
        &format!(
            "[simulation]\nhorizon = \"1h\"\n{H100}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 8\n[[tenants]]\nname = \"a\"\n\
             [[training]]\nname = \"p\"\ntenant = \"a\"\ntokens_per_s_per_gpu = {{ H100 = 650 }}\ncheckpoint_interval = \"1h\"\n\
             [training.trace]\nreader = \"philly\"\nfile = \"{file}\"\n"
        ),
        "x.toml",
        &LoadOptions {
            trace_dir: Some(dir.clone()),
            ..LoadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("training[0].trace.ran_on"), "{err}");
}

#[test]
fn gavel_job_types_run_at_their_measured_speeds() {
    let Some(dir) = traces() else { return };
    let text = format!(
        "[simulation]\nhorizon = \"2d\"\nfailures = false\n{}\n{}\n[[pools]]\ngpu_type = \"V100\"\ngpus = 64\n\
         [[pools]]\ngpu_type = \"K80\"\ngpus = 64\n[[tenants]]\nname = \"a\"\n\
         [[training]]\nname = \"philly\"\ntenant = \"a\"\ncheckpoint_interval = \"1h\"\n[training.trace]\n\
         reader = \"gavel\"\nfile = \"gavel/msr_seed0/23dbec.trace\"\nthroughputs = \"gavel/simulation_throughputs.json\"\n\
         gpu_map = {{ v100 = \"V100\", k80 = \"K80\" }}\n",
        H100.replace("H100", "V100"),
        H100.replace("H100", "K80")
    );
    let opts = LoadOptions {
        trace_dir: Some(dir.clone()),
        ..LoadOptions::default()
    };
    let sc = config::parse_with(&text, "gavel.toml", &opts).unwrap_or_else(|e| panic!("{e}"));
    let tput =
        fleetsim::trace::gavel::read_throughputs(&dir.join("gavel/simulation_throughputs.json"))
            .unwrap();
    assert!(sc.workloads.len() > 1);
    for w in &sc.workloads {
        let job_type = w.name.strip_prefix("philly/").unwrap();
        let one = &tput[&(job_type.to_string(), 1)];
        let v100 = sc.type_id("V100").unwrap();
        assert_eq!(w.tokens_per_s_per_gpu[v100], one.get("v100").copied());
    }
    let r = run(&sc, "heterogeneity_aware");
    // The trace's 9 jobs arrive at 0 s, 11 s and from 182,095 s (2.1 d) on.
    assert_eq!(r.jobs.submitted, 2);
    assert_eq!(sc.traces[0].used, 9);
}

#[test]
fn openb_inventory_becomes_the_fleet() {
    let Some(dir) = traces() else { return };
    let types: String = ["G2", "G3", "T4", "P100", "V100M16", "V100M32", "A10"]
        .iter()
        .map(|m| {
            let nodes = match *m {
                "G2" | "G3" => 8,
                "T4" => 2,
                "V100M32" => 4,
                _ => 1,
            };
            H100.replace("H100", m).replace(
                "node_gpus = 8\nnvlink_domain_gpus = 8",
                &format!("node_gpus = {nodes}\nnvlink_domain_gpus = {nodes}"),
            )
        })
        .collect();
    let text = format!(
        "[simulation]\nhorizon = \"1d\"\nfailures = false\n{types}\n[inventory]\nreader = \"openb\"\n\
         file = \"alibaba_gpu_2023_openb/openb_node_list_all_node.csv\"\n\
         models = {{ G2 = \"G2\", G3 = \"G3\", T4 = \"T4\", P100 = \"P100\", V100M16 = \"V100M16\", V100M32 = \"V100M32\", A10 = \"none\" }}\n\
         [[tenants]]\nname = \"a\"\n"
    );
    let opts = LoadOptions {
        trace_dir: Some(dir.clone()),
        ..LoadOptions::default()
    };
    let sc = config::parse_with(&text, "openb.toml", &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.total_gpus(), 6_212 - 2);
    assert_eq!(sc.type_gpus(sc.type_id("G2").unwrap()), 4_392);
    assert_eq!(sc.type_gpus(sc.type_id("V100M32").unwrap()), 204);
    let u = &sc.traces[0];
    assert_eq!(u.left_out["cpu_only_nodes"], 1_523 - 1_213);
    assert_eq!(u.left_out["A10_nodes_mapped_to_none"], 2);

    // An unmapped model is an error naming it.
    let err = config::parse_with(&text.replace(", A10 = \"none\"", ""), "openb.toml", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("inventory.models") && err.contains("A10"),
        "{err}"
    );
}

#[test]
fn bad_trace_rows_stop_the_run_or_are_counted_when_lenient() {
    let dir = std::env::temp_dir().join(format!("fleetsim-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.csv"),
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:17:03.0000000,100,10\n\
         2023-11-16 18:17:04.0000000,lots,8\n\
         2023-11-16 18:17:05.0000000,100,20\n",
    )
    .unwrap();
    let text = format!(
        "[simulation]\nhorizon = \"1h\"\nfailures = false\n{H100}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 64\n\
         [[tenants]]\nname = \"a\"\n{}",
        service("reader = \"azure\"\nfile = \"bad.csv\"\nstart = \"30m\"")
    );
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, &text).unwrap();
    // Strict: the error names the config field, the trace file, the line and the count.
    let err = config::load(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("bad.toml:")
            && err.contains("inference[0].trace.file")
            && err.contains("bad.csv: 1 bad row(s)")
            && err.contains("line 3: field `ContextTokens`")
            && err.contains("--lenient"),
        "{err}"
    );
    // Lenient: the good rows are replayed, the bad one is counted in the report.
    let sc = config::load_with(
        &cfg,
        &LoadOptions {
            lenient: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let r = run(&sc, "first_fit");
    assert_eq!((r.traces[0].rows, r.traces[0].skipped_rows), (2, 1));
    assert!(r.traces[0].first_skipped[0].contains("line 3"));
    exact(r.inference.served_tokens, 30.0);
    // A missing file says where traces come from.
    let err = config::parse_with(
        &text.replace("bad.csv", "nope.csv"),
        "x.toml",
        &LoadOptions {
            trace_dir: Some(dir.clone()),
            ..LoadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nope.csv") && err.contains("--trace-dir"),
        "{err}"
    );
}

#[test]
fn the_command_line_stops_on_bad_rows_counts_them_when_lenient_and_takes_a_trace_dir() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("fleetsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("t")).unwrap();
    std::fs::write(
        dir.join("t/bad.csv"),
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:17:03.0000000,100,10\n\
         2023-11-16 18:17:02.0000000,100,8\n\
         2023-11-16 18:17:05.0000000,100,20\n",
    )
    .unwrap();
    let cfg = dir.join("s.toml");
    std::fs::write(
        &cfg,
        format!(
            "[simulation]\nhorizon = \"1h\"\nfailures = false\ntrace_dir = \"t\"\n{H100}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 64\n\
             [[tenants]]\nname = \"a\"\n{}",
            service("reader = \"azure\"\nfile = \"bad.csv\"\nstart = \"30m\"")
        ),
    )
    .unwrap();
    let sim = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_simulate"))
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let out = sim(&["--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("1 bad row(s)") && err.contains("line 3: field `TIMESTAMP`"),
        "{err}"
    );

    let out = sim(&["--quiet", "--lenient"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 bad row(s)"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["traces"][0]["skipped_rows"], 1);
    assert_eq!(v["inference"]["served_tokens"], 30.0);

    // --trace-dir overrides `simulation.trace_dir`.
    std::fs::rename(dir.join("t"), dir.join("elsewhere")).unwrap();
    let out = sim(&["--quiet", "--lenient"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-dir"));
    let other = dir.join("elsewhere");
    let out = sim(&[
        "--quiet",
        "--lenient",
        "--trace-dir",
        other.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn trace_sections_are_validated_before_any_file_is_read() {
    let base = |trace: &str, extra: &str| {
        format!(
            "[simulation]\nhorizon = \"1h\"\n{H100}\n[[pools]]\ngpu_type = \"H100\"\ngpus = 8\n[[tenants]]\nname = \"a\"\n\
             [[inference]]\nname = \"s\"\ntenant = \"a\"\nmodel_gb = 70\ntokens_per_s_per_gpu = {{ H100 = 3900 }}\n{extra}\
             [inference.trace]\n{trace}\n"
        )
    };
    let cases = [
        (
            base(
                "reader = \"azure\"\nfile = \"x.csv\"\nclients = [\"1\"]",
                "",
            ),
            "inference[0].trace.clients",
            "does not apply to the `azure` reader",
        ),
        (
            base("reader = \"csv\"\nfile = \"x.csv\"", ""),
            "inference[0].trace.reader",
            "unknown inference trace reader `csv`",
        ),
        (
            base(
                "reader = \"azure\"\nfile = \"x.csv\"",
                "demand_tokens_per_s = 5\n",
            ),
            "inference[0].demand_tokens_per_s",
            "not both",
        ),
        (
            base(
                "reader = \"azure\"\nfile = \"x.csv\"\nfrom = \"2h\"\nto = \"1h\"",
                "",
            ),
            "inference[0].trace.to",
            "later than `from`",
        ),
        (
            base("reader = \"azure\"\nfile = \"x.csv\"\nrate_scale = 0", ""),
            "inference[0].trace.rate_scale",
            "greater than 0",
        ),
        (
            base(
                "reader = \"azure\"\nfile = \"x.csv\"\nprompt_token_cost = -1",
                "",
            ),
            "inference[0].trace.prompt_token_cost",
            "greater than 0",
        ),
        (
            base("reader = \"azure\"\nfile = \"x.csv\"\nloop = \"yes\"", ""),
            "inference[0].trace.loop",
            "invalid type",
        ),
    ];
    for (text, field, msg) in cases {
        let err = config::parse(&text, "t.toml").unwrap_err().to_string();
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains(msg),
            "{err}"
        );
        assert!(err.starts_with("t.toml:"), "{err}");
    }
}
