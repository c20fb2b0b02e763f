//! Trace readers: fidelity against the reference statistics in `../shared/traces/README.md`
//! (skipped with a message where that folder is absent), and bad rows reported with file,
//! line and field, never dropped silently.

use std::path::{Path, PathBuf};

use fleetsim::report::percentile;
use fleetsim::trace::{TraceError, azure};

fn traces() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is absent (public traces are not shipped with the project)",
            dir.display()
        );
        None
    }
}

fn stats(xs: &mut [f64]) -> (f64, f64, f64, f64) {
    xs.sort_by(|a, b| a.total_cmp(b));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    (
        mean,
        percentile(xs, 0.5),
        percentile(xs, 0.99),
        *xs.last().unwrap(),
    )
}

#[track_caller]
fn near(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} != {b} (± {tol})");
}

/// Mean (to the README's one decimal), p50 and p99 (to its rounding) and max (exactly) of a
/// column match the reference statistics.
#[track_caller]
fn matches_reference(xs: &mut [f64], (mean, p50, p99, max): (f64, f64, f64, f64)) {
    let (m, q50, q99, top) = stats(xs);
    near(m, mean, 0.05);
    near(q50, p50, 0.5);
    near(q99, p99, 0.5);
    near(top, max, 0.0);
}

#[test]
fn azure_2023_matches_the_reference_statistics() {
    let Some(dir) = traces() else { return };
    // (file, rows, input mean/p50/p99/max, output mean/p50/p99/max, span s) from the README.
    let cases = [
        (
            "AzureLLMInferenceTrace_code.csv",
            8_819,
            (2_047.8, 1_469.0, 7_436.0, 7_437.0),
            (27.9, 13.0, 251.5, 1_899.0),
            3_436.0,
        ),
        (
            "AzureLLMInferenceTrace_conv.csv",
            19_366,
            (1_154.7, 1_020.0, 4_142.0, 14_050.0),
            (211.1, 129.0, 601.0, 1_000.0),
            3_502.0,
        ),
    ];
    for (name, rows, input, output, span) in cases {
        let t = azure::read(&dir.join("azure_llm_2023").join(name), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rows.len(), rows, "{name}");
        assert!(t.skipped.is_empty());
        let mut i: Vec<f64> = t.rows.iter().map(|r| r.input_tokens as f64).collect();
        let mut o: Vec<f64> = t.rows.iter().map(|r| r.output_tokens as f64).collect();
        matches_reference(&mut i, input);
        matches_reference(&mut o, output);
        // The README rounds the span to whole seconds.
        near(t.rows.last().unwrap().at as f64 / 1e6, span, 1.0);
    }
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_rows_are_reported_with_line_and_field() {
    let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                2023-11-16 18:17:03.9799600,4808,10\n\
                2023-11-16 18:17:04.0319600,many,8\n\
                2023-11-16 18:17:05.0000000,100\n\
                2023-11-16 18:17:02.0000000,100,5\n\
                not a time,100,5\n\
                2023-11-16 18:17:06.0000000,100,5\n";
    let p = write("bad.csv", text);
    let err = azure::read(&p, false).unwrap_err();
    let TraceError::BadRows { count, first, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*count, 4);
    assert_eq!(
        (first[0].line, first[0].field.as_str()),
        (3, "ContextTokens")
    );
    assert_eq!((first[1].line, first[1].field.as_str()), (4, "(row)"));
    assert_eq!((first[2].line, first[2].field.as_str()), (5, "TIMESTAMP"));
    assert!(first[2].message.contains("earlier"));
    assert_eq!((first[3].line, first[3].field.as_str()), (6, "TIMESTAMP"));
    let msg = err.to_string();
    assert!(
        msg.contains("bad.csv") && msg.contains("4 bad row(s)") && msg.contains("line 3"),
        "{msg}"
    );

    // Lenient: the good rows are read, the bad ones are returned, none is lost.
    let t = azure::read(&p, true).unwrap();
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.skipped.len(), 4);
    assert_eq!(t.rows[1].at, 2_020_040); // 18:17:06.0000000 - 18:17:03.9799600

    let p = write("header.csv", "time,in,out\n2023-11-16 18:17:03,1,1\n");
    let err = azure::read(&p, false).unwrap_err().to_string();
    assert!(
        err.contains("header.csv:1") && err.contains("TIMESTAMP"),
        "{err}"
    );
    let err = azure::read(&p.with_file_name("missing.csv"), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn mooncake_fast25_matches_the_reference_statistics() {
    use fleetsim::trace::mooncake;
    let Some(dir) = traces() else { return };
    // (file, rows, span s, input mean/p50/p99/max, output mean/p50/p99/max, blocks total/unique)
    let cases = [
        (
            "conversation_trace.jsonl",
            12_031,
            3_537.0,
            (12_035.1, 6_909.0, 85_400.0, 126_195.0),
            (342.6, 350.0, 1_118.5, 2_000.0),
            (288_500, 182_790),
        ),
        (
            "synthetic_trace.jsonl",
            3_993,
            1_022.0,
            (15_325.5, 11_587.0, 66_456.0, 191_378.0),
            (149.1, 69.0, 768.0, 893.0),
            (121_877, 43_924),
        ),
    ];
    for (name, rows, span, input, output, blocks) in cases {
        let t = mooncake::read(&dir.join("mooncake_fast25").join(name), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rows.len(), rows, "{name}");
        let mut i: Vec<f64> = t
            .rows
            .iter()
            .map(|r| r.request.input_tokens as f64)
            .collect();
        let mut o: Vec<f64> = t
            .rows
            .iter()
            .map(|r| r.request.output_tokens as f64)
            .collect();
        matches_reference(&mut i, input);
        matches_reference(&mut o, output);
        near(t.rows.last().unwrap().request.at as f64 / 1e6, span, 1.0);
        let total: usize = t.rows.iter().map(|r| r.blocks.len()).sum();
        let unique: std::collections::BTreeSet<u64> = t
            .rows
            .iter()
            .flat_map(|r| r.blocks.iter().copied())
            .collect();
        assert_eq!((total, unique.len()), blocks, "{name}");
    }
}

#[test]
fn mooncake_bad_rows_are_reported() {
    use fleetsim::trace::mooncake;
    let text = "{\"timestamp\": 3, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1]}\n\
                {\"timestamp\": 5, \"input_length\": -1, \"output_length\": 5, \"hash_ids\": [1]}\n\
                not json\n\
                {\"timestamp\": 9, \"output_length\": 5, \"hash_ids\": []}\n\
                {\"timestamp\": 2, \"input_length\": 3, \"output_length\": 5, \"hash_ids\": []}\n";
    let p = write("bad.jsonl", text);
    let err = mooncake::read(&p, false).unwrap_err();
    let TraceError::BadRows { count, first, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*count, 4);
    let at: Vec<(u64, &str)> = first.iter().map(|b| (b.line, b.field.as_str())).collect();
    assert_eq!(
        at,
        vec![
            (2, "input_length"),
            (3, "(row)"),
            (4, "input_length"),
            (5, "timestamp")
        ]
    );
    let t = mooncake::read(&p, true).unwrap();
    assert_eq!((t.rows.len(), t.skipped.len()), (1, 4));
}
