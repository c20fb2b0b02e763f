//! Mutation fuzzing of the shipped configs and of trace rows: numbers pushed to extremes, odd
//! durations, lines deleted or repeated, bytes flipped. Every mutant must either be refused
//! with an error naming the file, the line and the field, or run to a report whose invariants
//! hold (the ledger adds up, tenants sum to the fleet, no job is lost, every number is
//! finite). Never a panic. A few seconds by default; `FUZZ_CASES=5000` runs it deeper.

mod common;

use fleetsim::config::{self, ConfigError, LoadOptions};
use fleetsim::policy::{self, POLICIES};
use fleetsim::report::{self, Report};
use fleetsim::sim::Engine;
use fleetsim::units::US_PER_HOUR;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Shipped configs that read no trace (the trace-reading ones are covered by the trace part,
/// on small files); the gigawatt region is left out for its size.
const CONFIGS: &[&str] = &[
    "fleet.toml",
    "anchor.toml",
    "demand_shock.toml",
    "multitenant.toml",
    "single_gen_gb200.toml",
    "single_gen_h100.toml",
    "neocloud_rental.toml",
    "hyperscale_mix.toml",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "inf",
    "nan",
    "4294967296",
    "18446744073709551616",
    "1e-300",
    "0.5",
    "3",
    "1e15",
];

const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1us\"",
    "\"100000w\"",
    "\"-5m\"",
    "\"2 days\"",
    "\"1e300s\"",
    "\"7d\"",
    "\"12\"",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// The `k`-th number of line `line` becomes `NUMBERS[v]`.
    Number(usize, usize, usize),
    /// The `k`-th quoted duration of line `line` becomes `DURATIONS[v]`.
    Duration(usize, usize, usize),
    Delete(usize),
    Repeat(usize),
    /// Byte `at` becomes `to`.
    Flip(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), 0..NUMBERS.len()).prop_map(|(l, k, v)| Mutation::Number(l, k, v)),
        2 => (any::<usize>(), any::<usize>(), 0..DURATIONS.len()).prop_map(|(l, k, v)| Mutation::Duration(l, k, v)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Repeat),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
    ]
}

/// Byte ranges of the numbers in `line` (a digit run with its sign, point and exponent, not
/// part of a name).
fn numbers(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b"._eE+-".contains(&b[j])) {
                j += 1;
            }
            out.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of quoted strings in `line` that start with a digit (durations, token counts).
fn quoted(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = None;
    for (i, c) in line.char_indices() {
        if c == '"' {
            match open.take() {
                None => open = Some(i),
                Some(s) => {
                    if line[s + 1..].starts_with(|c: char| c.is_ascii_digit()) {
                        out.push((s, i + 1));
                    }
                }
            }
        }
    }
    out
}

fn apply(text: &str, muts: &[Mutation]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut flips = Vec::new();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match *m {
            Mutation::Number(l, k, v) | Mutation::Duration(l, k, v) => {
                let dur = matches!(m, Mutation::Duration(..));
                // The first line from `l` on that has such a value.
                for d in 0..n {
                    let line = &lines[(l + d) % n];
                    let spans = if dur { quoted(line) } else { numbers(line) };
                    if let Some(&(a, b)) = spans.get(k % spans.len().max(1)) {
                        let new = if dur { DURATIONS[v] } else { NUMBERS[v] };
                        let i = (l + d) % n;
                        lines[i].replace_range(a..b, new);
                        break;
                    }
                }
            }
            Mutation::Delete(l) => {
                lines.remove(l % n);
            }
            Mutation::Repeat(l) => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            Mutation::Flip(at, to) => flips.push((at, to)),
        }
    }
    let mut bytes = (lines.join("\n") + "\n").into_bytes();
    for (at, to) in flips {
        let n = bytes.len();
        bytes[at % n] = to;
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// A fresh folder for one case's files.
fn case_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "fleetsim-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The invariants every report must keep.
fn check_report(r: &Report, what: &str) -> Result<(), TestCaseError> {
    if let Some(f) = report::first_non_finite(r) {
        return Err(TestCaseError::fail(format!("{what}: `{f}` is not finite")));
    }
    let g = &r.gpu_hours;
    let sum = g.productive + g.tenant_switch + g.workflow_switch + g.idle + g.down;
    let tol = 1e-9 * g.total.max(1.0);
    prop_assert!(
        (sum - g.total).abs() <= tol,
        "{}: states {} != total {}",
        what,
        sum,
        g.total
    );
    prop_assert!(
        (g.total - r.gpus as f64 * r.horizon_hours).abs() <= tol,
        "{}: total {} != GPUs x horizon",
        what,
        g.total
    );
    let tenants =
        |f: &dyn Fn(&report::TenantFigures) -> f64| r.by_tenant.values().map(f).sum::<f64>();
    prop_assert!(
        (tenants(&|t| t.tenant_switch_gpu_hours) - g.tenant_switch).abs() <= tol,
        "{}: tenant switch",
        what
    );
    prop_assert!(
        (tenants(&|t| t.gpu_hours) - g.productive).abs() <= tol,
        "{}: productive",
        what
    );
    // Money and energy: the parts add up, nothing negative.
    let e = &r.economics;
    let c = &e.revenue_by_contract;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    prop_assert!(
        close(
            c.committed + c.on_demand + c.spot + c.per_token - e.sla_credits_usd,
            e.revenue_usd
        ),
        "{}: revenue by contract",
        what
    );
    prop_assert!(
        close(e.cost_by_part.capital + e.cost_by_part.energy, e.cost_usd),
        "{}: cost by part",
        what
    );
    prop_assert!(
        close(tenants(&|t| t.revenue_usd), e.revenue_usd),
        "{}: tenants' revenue",
        what
    );
    prop_assert!(
        r.energy.kwh >= 0.0 && e.sla_credits_usd >= 0.0 && e.guarantee_shortfall_gpu_hours >= 0.0,
        "{}: negative energy, credits or shortfall",
        what
    );
    let j = &r.jobs;
    prop_assert_eq!(
        j.submitted,
        j.completed + j.running + j.queued + j.rejected,
        "{}: jobs",
        what
    );
    let never: u64 = j.never_started.values().sum();
    prop_assert_eq!(never, j.wait_hours.censored, "{}: censored waits", what);
    prop_assert!(
        (0.0..=1.0).contains(&r.gpu_utilization),
        "{}: utilization",
        what
    );
    Ok(())
}

/// Loads `file`: a refusal must name a line and a field; a scenario runs (horizon capped so
/// a case stays short) under `policy`, audited after every event when it is small enough.
fn check_file(file: &Path, policy: &str) -> Result<(), TestCaseError> {
    let opts = LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    };
    let mut sc = match config::load_with(file, &opts) {
        Err(ConfigError::Invalid {
            line,
            field,
            message,
            ..
        }) => {
            prop_assert!(
                line >= 1 && !field.is_empty(),
                "error without a place: {}",
                message
            );
            return Ok(());
        }
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "not a config error with a place: {e}"
            )));
        }
        Ok(sc) => sc,
    };
    sc.horizon = sc.horizon.min(2 * US_PER_HOUR);
    let run = |audit: bool| -> Result<(Report, u64), TestCaseError> {
        let mut e = Engine::new(sc.clone(), policy::by_name(policy).unwrap()).with_audit(audit);
        e.run()
            .map_err(|err| TestCaseError::fail(format!("{policy}: {err}")))?;
        Ok((report::build(&e), e.events()))
    };
    let (r, events) = run(false)?;
    check_report(&r, policy)?;
    if events * sc.total_gpus() <= 20_000_000 {
        let (audited, _) = run(true)?;
        prop_assert_eq!(&audited, &r, "{}: the audited run differs", policy);
    }
    Ok(())
}

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_shipped_configs_are_refused_clearly_or_run_sound(
        which in 0..CONFIGS.len(),
        muts in prop::collection::vec(mutation(), 1..4),
        p in 0..POLICIES.len(),
    ) {
        let text = std::fs::read_to_string(configs_dir().join(CONFIGS[which])).unwrap();
        let dir = case_dir();
        let file = dir.join(CONFIGS[which]);
        std::fs::write(&file, apply(&text, &muts)).unwrap();
        let r = check_file(&file, POLICIES[p]);
        std::fs::remove_dir_all(&dir).ok();
        r?;
    }

    #[test]
    fn mutated_trace_rows_are_refused_clearly_or_run_sound(
        which in 0..TRACES.len(),
        muts in prop::collection::vec(mutation(), 1..4),
        p in 0..POLICIES.len(),
    ) {
        let t = &TRACES[which];
        let dir = case_dir();
        std::fs::write(dir.join(t.file), apply(&(t.rows)(), &muts)).unwrap();
        let file = dir.join("case.toml");
        std::fs::write(&file, format!("{}{}", common::ONE_NODE, t.config)).unwrap();
        let r = check_file(&file, POLICIES[p]);
        std::fs::remove_dir_all(&dir).ok();
        r?;
    }
}

/// The tenant and the start of the inference service that replays a trace.
macro_rules! service {
    () => {
        r#"
[[tenants]]
name = "a"
[[inference]]
name = "svc"
tenant = "a"
model_gb = 70
tokens_per_s_per_gpu = { H100 = 3900 }"#
    };
}

/// The tenant and the start of the training workload that replays a job trace.
macro_rules! training {
    () => {
        r#"
[[tenants]]
name = "a"
[[training]]
name = "jobs"
tenant = "a"
tokens_per_s_per_gpu = { H100 = 650 }
checkpoint_interval = "1h""#
    };
}

/// A small trace of one reader and the workload that replays it.
struct Trace {
    file: &'static str,
    rows: fn() -> String,
    config: &'static str,
}

const TRACES: &[Trace] = &[
    Trace {
        file: "azure.csv",
        rows: || {
            let mut t = "TIMESTAMP,ContextTokens,GeneratedTokens\n".to_string();
            for i in 0..40 {
                t += &format!(
                    "2023-11-16 18:{:02}:{:02}.0000000,{},{}\n",
                    15 + i / 20,
                    (i * 3) % 60,
                    100 + i,
                    5 + i % 7
                );
            }
            t
        },
        config: concat!(
            service!(),
            r#"
[inference.trace]
reader = "azure"
file = "azure.csv"
loop = true
"#
        ),
    },
    Trace {
        file: "mooncake.jsonl",
        rows: || {
            (0..40)
                .map(|i| format!("{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}, \"hash_ids\": [{}, {}]}}\n", i * 1500, 1000 + i, 10 + i, i, i + 1))
                .collect()
        },
        config: concat!(
            service!(),
            r#"
[inference.trace]
reader = "mooncake"
file = "mooncake.jsonl"
"#
        ),
    },
    Trace {
        file: "servegen.csv",
        rows: || {
            let mut t = "client_id,window_start_s,rate_rps,cv,arrival_pattern,pattern_param1,pattern_param2\n".to_string();
            for i in 0..30 {
                t += &format!("{},{},{}.5,1.0,Gamma,1,1\n", i % 3, (i / 3) * 600, i % 4);
            }
            t
        },
        config: concat!(
            service!(),
            r#"
[inference.trace]
reader = "servegen"
file = "servegen.csv"
input_tokens = 100
output_tokens = 10
"#
        ),
    },
    Trace {
        file: "helios.csv",
        rows: || {
            let mut t =
                "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n"
                    .to_string();
            for i in 0..30 {
                t += &format!(
                    "{i},u{},{},1,1,{},{},0,Pass\n",
                    i % 3,
                    [1, 2, 4, 8][i % 4],
                    if i == 0 { 0 } else { 120 },
                    300 + 60 * i
                );
            }
            t
        },
        config: concat!(
            training!(),
            r#"
[training.trace]
reader = "helios"
file = "helios.csv"
ran_on = "H100"
loop = true
"#
        ),
    },
    Trace {
        file: "pods.csv",
        rows: || {
            let mut t = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n".to_string();
            for i in 0..30 {
                t += &format!(
                    "p{i},1,1,{},1000,,LS,Running,{},{},{}\n",
                    1 + i % 2,
                    100 * i,
                    100 * i + 900,
                    100 * i
                );
            }
            t
        },
        config: concat!(
            training!(),
            r#"
[training.trace]
reader = "openb"
file = "pods.csv"
ran_on = "H100"
"#
        ),
    },
];

#[test]
fn the_unmutated_inputs_run() {
    // The fuzz cases start from inputs that work: otherwise every mutant would be refused
    // for the same reason and nothing past the loader would be tried.
    for c in CONFIGS {
        check_file(&configs_dir().join(c), "first_fit").unwrap();
    }
    for t in TRACES {
        let dir = case_dir();
        std::fs::write(dir.join(t.file), (t.rows)()).unwrap();
        let file = dir.join("case.toml");
        std::fs::write(&file, format!("{}{}", common::ONE_NODE, t.config)).unwrap();
        let sc = config::load(&file).unwrap_or_else(|e| panic!("{}: {e}", t.file));
        assert!(sc.traces.iter().all(|u| u.skipped_rows == 0), "{}", t.file);
        check_file(&file, "switch_aware").unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
