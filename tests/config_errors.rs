//! Bad config files give an error naming the file, the line and the field, and the binary
//! exits non-zero without panicking.

mod common;
use common::ONE_NODE;

use fleetsim::config::{ConfigError, parse};
use std::process::Command;

const JOB: &str = r#"
[[tenants]]
name = "a"
[[training]]
name = "job"
tenant = "a"
tokens_per_s_per_gpu = { H100 = 650 }
checkpoint_interval = "30m"
jobs = [{ at = "0s", gpus = 8, tokens = 18_720_000 }]
"#;

fn good() -> String {
    format!("{ONE_NODE}{JOB}")
}

/// Parses `text`, expects an error, and returns (line, field, message).
fn error_of(text: &str) -> (usize, String, String) {
    match parse(text, "bad.toml") {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(ConfigError::Invalid {
            file,
            line,
            field,
            message,
            ..
        }) => {
            assert_eq!(file, "bad.toml");
            (line, field, message)
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn the_good_config_parses() {
    let sc = parse(&good(), "good.toml").unwrap();
    assert_eq!(sc.total_gpus(), 8);
    assert_eq!(sc.gpu_types[0].tenant_switch, 18 * 60 * 1_000_000);
}

#[test]
fn wrong_type_names_line_and_field() {
    let text = good().replace("hbm_gb = 80", "hbm_gb = \"eighty\"");
    let (line, field, msg) = error_of(&text);
    assert_eq!(line, line_of(&text, "eighty"));
    assert_eq!(field, "gpu_types.H100.hbm_gb");
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn unknown_key_is_rejected_not_ignored() {
    let text = good().replace("tdp_w = 700", "tdp_watts = 700");
    let (line, field, msg) = error_of(&text);
    assert_eq!(line, line_of(&text, "tdp_watts"));
    assert_eq!(field, "gpu_types.H100.tdp_watts");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn duration_without_unit_is_rejected() {
    let text = good().replace("tenant_switch = \"18m\"", "tenant_switch = \"18\"");
    let (line, field, msg) = error_of(&text);
    assert_eq!(line, line_of(&text, "tenant_switch"));
    assert_eq!(field, "gpu_types.H100.tenant_switch");
    assert!(msg.contains("no unit"), "{msg}");
}

#[test]
fn missing_field_names_its_table() {
    let text = good().replace("hbm_gb = 80\n", "");
    let (_, field, msg) = error_of(&text);
    assert_eq!(field, "gpu_types.H100.hbm_gb");
    assert!(msg.contains("missing field"), "{msg}");
}

#[test]
fn bad_token_count_names_the_array_element() {
    let text = good().replace("tokens = 18_720_000", "tokens = \"lots\"");
    let (line, field, _) = error_of(&text);
    assert_eq!(line, line_of(&text, "lots"));
    assert_eq!(field, "training[0].jobs[0].tokens");
}

#[test]
fn references_to_unknown_names_are_located() {
    let text = good().replace("gpu_type = \"H100\"", "gpu_type = \"H300\"");
    let (line, field, msg) = error_of(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "H300"), "pools[0].gpu_type")
    );
    assert!(msg.contains("unknown GPU type `H300`"), "{msg}");

    let text = good().replace("tenant = \"a\"", "tenant = \"zz\"");
    let (line, field, _) = error_of(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "\"zz\""), "training[0].tenant")
    );
}

#[test]
fn semantic_checks_name_the_field() {
    // A pool that is not whole NVLink domains.
    let text = good().replace("\ngpus = 8\n", "\ngpus = 12\n");
    let (line, field, _) = error_of(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "gpus = 12"), "pools[0].gpus")
    );
    // Reservations beyond the fleet.
    let text = good().replace(
        "name = \"a\"\n[[training]]",
        "name = \"a\"\nreserved_gpus = { H100 = 16 }\n[[training]]",
    );
    let (_, field, msg) = error_of(&text);
    assert_eq!(field, "tenants[0].reserved_gpus.H100");
    assert!(msg.contains("16"), "{msg}");
    // A zero horizon.
    let text = good().replace("horizon = \"4h\"", "horizon = \"0s\"");
    assert_eq!(error_of(&text).1, "simulation.horizon");
    // A target utilization out of range.
    let text = format!(
        "{}\n[[inference]]\nname = \"s\"\ntenant = \"a\"\nmodel_gb = 70\ntokens_per_s_per_gpu = {{ H100 = 1000 }}\ndemand_tokens_per_s = 10\ntarget_utilization = 1.5\n",
        good()
    );
    assert_eq!(error_of(&text).1, "inference[0].target_utilization");
    // A model that fits no GPU type it can run on, even over 1,024 GPUs.
    let service = text.replace("target_utilization = 1.5", "");
    let text = service.replace("model_gb = 70", "model_gb = 70000");
    assert_eq!(error_of(&text).1, "inference[0].model_gb");
    // How a service is run: its SLO class, delays, replica shape and autoscaler.
    for (extra, field, says) in [
        ("slo = \"fast\"", "inference[0].slo", "unknown SLO class"),
        (
            "slo_delay = \"0s\"",
            "inference[0].slo_delay",
            "longer than 0",
        ),
        (
            "abandon_after = \"0s\"",
            "inference[0].abandon_after",
            "longer than 0",
        ),
        (
            "gpus_per_replica = { H100 = 12 }",
            "inference[0].gpus_per_replica.H100",
            "multiple of 8",
        ),
        (
            "autoscaler = { mode = \"psychic\" }",
            "inference[0].autoscaler.mode",
            "reactive",
        ),
        (
            "autoscaler = { window = \"0s\" }",
            "inference[0].autoscaler.window",
            "longer than 0",
        ),
        (
            "autoscaler = { scale_down_delay = \"30d\" }",
            "inference[0].autoscaler.scale_down_delay",
            "7 days",
        ),
        (
            "min_replicas = 4\nautoscaler = { max_replicas = 2 }",
            "inference[0].autoscaler.max_replicas",
            "min_replicas",
        ),
    ] {
        let text = format!("{service}{extra}\n");
        let (_, path, message) = error_of(&text);
        assert_eq!(path, field, "{extra}: {message}");
        assert!(message.contains(says), "{extra}: {message}");
    }
    // A class's rates need the class's GPU types.
    let text = service.replace(
        "tokens_per_s_per_gpu = { H100 = 1000 }\n",
        "slo = \"server\"\n",
    );
    assert!(
        error_of(&text.replace("H100", "X1"))
            .2
            .contains("has rates for H100")
    );
}

#[test]
fn horizon_errors_say_what_is_wrong_and_what_is_accepted() {
    for (value, wanted) in [
        ("\"2 days\"", "\"2d\""),
        ("\"2days\"", "\"2d\""),
        ("\"0\"", "longer than 0"),
        ("0", "longer than 0"),
        ("\"0s\"", "longer than 0"),
        ("12", "\"12h\""),
        ("\"12\"", "\"12h\""),
    ] {
        let text = good().replace("horizon = \"4h\"", &format!("horizon = {value}"));
        let (line, field, msg) = error_of(&text);
        assert_eq!(
            (line, field.as_str()),
            (line_of(&text, "horizon ="), "simulation.horizon"),
            "{value}: {msg}"
        );
        assert!(msg.contains(wanted), "{value}: {msg}");
        assert!(
            !msg.contains("\"0s\"") && !msg.contains("\"12s\""),
            "{value}: the hint suggests a bad horizon: {msg}"
        );
    }
}

#[test]
fn a_policy_named_twice_in_compare_is_located() {
    let text = good().replace(
        "policy = \"first_fit\"",
        "policy = \"first_fit\"\ncompare = [\"first_fit\", \"best_fit\", \"first_fit\"]",
    );
    let (line, field, msg) = error_of(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "compare ="), "simulation.compare[2]")
    );
    assert!(msg.contains("named twice"), "{msg}");
}

#[test]
fn syntax_errors_are_located() {
    let text = good().replace("[[pools]]", "[[pools]");
    let (line, _, _) = error_of(&text);
    assert_eq!(line, line_of(&text, "[[pools]"));
}

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .output()
        .expect("run simulate")
}

#[test]
fn the_binary_reports_bad_files_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("fleetsim-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, good().replace("hbm_gb = 80", "hbm_gb = -80")).unwrap();
    let out = simulate(&[path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.toml:") && err.contains("gpu_types.H100.hbm_gb"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = simulate(&[dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    std::fs::write(&path, good()).unwrap();
    let out = simulate(&[path.to_str().unwrap(), "--policy", "nonesuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy `nonesuch`"));

    let out = simulate(&[path.to_str().unwrap(), "--horizon", "12"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--horizon"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_number_has_a_range_checked_at_load() {
    // Values that once overflowed, hung or came out as `null`: each is refused at its own
    // line and field, with its range.
    let svc = |extra: &str| {
        format!(
            "{ONE_NODE}
[[tenants]]
name = \"a\"
[[inference]]
name = \"svc\"
tenant = \"a\"
model_gb = 70
tokens_per_s_per_gpu = {{ H100 = 3900 }}
demand_tokens_per_s = 1000
{extra}
"
        )
    };
    let cases = [
        (
            good().replace("tenant_switch = \"18m\"", "tenant_switch = \"18m\"\nfailures_per_gpu_hour = 1e6"),
            "gpu_types.H100.failures_per_gpu_hour",
            "from 0 to 1",
        ),
        (
            good().replace("price_usd_per_gpu_hour = 2.5", "price_usd_per_gpu_hour = 1e308"),
            "gpu_types.H100.price_usd_per_gpu_hour",
            "from 0 to 1000",
        ),
        (
            svc("diurnal = { peak = inf, trough = 0.5 }"),
            "inference[0].diurnal.peak",
            "at most 1000000",
        ),
        (
            svc("demand_changes = [{ at = \"1h\", factor = 1e308 }]"),
            "inference[0].demand_changes[0].factor",
            "from 0 to 1000000",
        ),
        (
            good().replace("checkpoint_interval = \"30m\"", "checkpoint_interval = \"30m\"\narrivals_per_hour = 99000\nsizes = [{ gpus = 1, weight = 1, tokens = 1 }]").replace("horizon = \"4h\"", "horizon = \"30d\""),
            "training[0].arrivals_per_hour",
            "at most 50000000",
        ),
        (
            good().replace("horizon = \"4h\"", "horizon = \"200000w\""),
            "simulation.horizon",
            "at most 100 years",
        ),
    ];
    for (text, field, msg) in cases {
        let (_, f, m) = error_of(&text);
        assert_eq!(f, field, "{m}");
        assert!(m.contains(msg), "{field}: {m}");
    }
}

#[test]
fn contracts_prices_and_power_are_checked_at_load() {
    let with_tenant = |tenant: &str| good().replace("[[tenants]]\nname = \"a\"\n", tenant);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with_tenant("[[tenants]]\nname = \"a\"\ncontract = \"on_demand\"\n"),
            "gpu_types.H100",
            "on_demand_usd_per_gpu_hour",
        ),
        (
            with_tenant(
                "[[tenants]]\nname = \"a\"\ncontract = \"spot\"\nreserved_gpus = { H100 = 8 }\n",
            ),
            "tenants[0].reserved_gpus",
            "committed contract",
        ),
        (
            with_tenant("[[tenants]]\nname = \"a\"\ncontract = \"lease\"\n"),
            "tenants[0].contract",
            "unknown contract",
        ),
        (
            with_tenant("[[tenants]]\nname = \"a\"\ncontract = \"spot\"\nprice_multiplier = 2\n"),
            "tenants[0].price_multiplier",
            "only a committed contract",
        ),
        (
            with_tenant("[[tenants]]\nname = \"a\"\nusd_per_million_output_tokens = 0.6\n"),
            "training[0].tenant",
            "pays per token",
        ),
        (
            with_tenant("[[tenants]]\nname = \"a\"\ncontract = \"per_token\"\n"),
            "tenants[0].contract",
            "usd_per_million_output_tokens",
        ),
        (
            good().replace("hbm_gb = 80", "hbm_gb = 80\npue = 0.9"),
            "gpu_types.H100.pue",
            "must be in [1",
        ),
        (
            good().replace("hbm_gb = 80", "hbm_gb = 80\npower = { idle = 1.5 }"),
            "gpu_types.H100.power.idle",
            "share of TDP",
        ),
        (
            good().replace(
                "failures = false",
                "failures = false\nwork_reference = \"B300\"",
            ),
            "simulation.work_reference",
            "unknown GPU type",
        ),
        (
            good().replace("[economics]", "").replace(
                "[[tenants]]",
                "[economics]\nenergy_usd_per_kwh = -1\n[[tenants]]",
            ),
            "economics.energy_usd_per_kwh",
            "",
        ),
    ];
    for (text, field, words) in cases {
        let (_, got_field, msg) = error_of(&text);
        assert_eq!(got_field, field, "{msg}\n{text}");
        assert!(msg.contains(words), "{field}: {msg}");
    }
}
