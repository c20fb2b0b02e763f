//! Trace readers: fidelity against the reference statistics in `../shared/traces/README.md`
//! (skipped with a message where that folder is absent), and bad rows reported with file,
//! line and field, never dropped silently.

use std::path::PathBuf;

use fleetsim::report::percentile;
use fleetsim::trace::{TraceError, azure};

mod common;
use common::shared_traces as traces;

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

/// Percentile of a sample (numpy linear), sorting a copy.
fn pct(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(&v, q)
}

fn counts<K: Ord>(xs: impl IntoIterator<Item = K>) -> std::collections::BTreeMap<K, usize> {
    let mut m = std::collections::BTreeMap::new();
    for x in xs {
        *m.entry(x).or_insert(0) += 1;
    }
    m
}

#[test]
fn philly_and_helios_cuts_match_the_reference_statistics() {
    use fleetsim::trace::dirlab;
    let Some(dir) = traces() else { return };
    let t = dirlab::read(&dir.join("philly/philly_last15000_jobs_dirlab.csv"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.rows.len(), 15_000);
    let users = counts(t.rows.iter().map(|j| j.user.as_str()));
    assert_eq!(users.len(), 136);
    near(t.rows.last().unwrap().submit as f64 / 86_400e6, 57.6, 0.05);
    let g = counts(t.rows.iter().map(|j| j.gpus));
    let want = [
        (1, 11_963),
        (2, 375),
        (4, 905),
        (8, 1_477),
        (16, 243),
        (32, 33),
        (28, 1),
        (48, 3),
    ];
    for (gpus, n) in want {
        assert_eq!(g[&gpus], n, "{gpus}-GPU jobs");
    }
    let gpus: Vec<f64> = t.rows.iter().map(|j| j.gpus as f64).collect();
    assert_eq!((pct(&gpus, 0.5), pct(&gpus, 0.9)), (1.0, 8.0));
    assert_eq!(t.rows.iter().map(|j| j.nodes).max(), Some(16));
    let run: Vec<f64> = t.rows.iter().map(|j| j.run_time_s).collect();
    near(pct(&run, 0.5), 289.0, 0.5);
    near(pct(&run, 0.9), 47_585.0, 0.5);
    near(pct(&run, 0.99), 1_789_182.0, 0.5);
    near(run.iter().sum::<f64>() / run.len() as f64, 74_954.0, 0.5);
    let st = counts(t.rows.iter().map(|j| j.status.as_str()));
    assert_eq!(
        (st["Pass"], st["Failed"], st["Killed"]),
        (8_538, 4_509, 1_953)
    );

    let t = dirlab::read(&dir.join("helios/helios_last15000_jobs_dirlab.csv"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.rows.len(), 15_000);
    assert_eq!(counts(t.rows.iter().map(|j| j.user.as_str())).len(), 106);
    near(t.rows.last().unwrap().submit as f64 / 86_400e6, 20.2, 0.05);
    let gpu_jobs: Vec<_> = t.rows.iter().filter(|j| j.gpus > 0).collect();
    assert_eq!(gpu_jobs.len(), 10_796);
    let g = counts(gpu_jobs.iter().map(|j| j.gpus));
    for (gpus, n) in [
        (1, 5_939),
        (2, 544),
        (4, 647),
        (8, 2_382),
        (16, 579),
        (32, 246),
    ] {
        assert_eq!(g[&gpus], n, "{gpus}-GPU jobs");
    }
    let gpus: Vec<f64> = gpu_jobs.iter().map(|j| j.gpus as f64).collect();
    assert_eq!((pct(&gpus, 0.5), pct(&gpus, 0.9)), (1.0, 16.0));
    assert_eq!(gpu_jobs.iter().map(|j| j.gpus).max(), Some(160));
    let run: Vec<f64> = gpu_jobs.iter().map(|j| j.run_time_s).collect();
    near(pct(&run, 0.5), 277.0, 0.5);
    near(pct(&run, 0.9), 18_370.0, 0.5);
    near(pct(&run, 0.99), 293_589.0, 0.5);
    near(run.iter().sum::<f64>() / run.len() as f64, 13_683.0, 0.5);
    let st = counts(t.rows.iter().map(|j| j.status.as_str()));
    assert_eq!(
        (st["Pass"], st["Killed"], st["Failed"]),
        (9_316, 3_452, 2_232)
    );
}

#[test]
fn openb_matches_the_reference_statistics() {
    use fleetsim::trace::openb;
    let Some(dir) = traces() else { return };
    let dir = dir.join("alibaba_gpu_2023_openb");
    let nodes = openb::read_nodes(&dir.join("openb_node_list_gpu_node.csv"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nodes.rows.len(), 1_213);
    assert_eq!(nodes.rows.iter().map(|n| n.gpus).sum::<u32>(), 6_212);
    let mut by_model = std::collections::BTreeMap::new();
    for n in &nodes.rows {
        *by_model.entry(n.model.as_str()).or_insert(0) += n.gpus;
    }
    let want = [
        ("G2", 4_392),
        ("T4", 842),
        ("G3", 312),
        ("P100", 265),
        ("V100M32", 204),
        ("V100M16", 195),
        ("A10", 2),
    ];
    assert_eq!(by_model, want.into_iter().collect());
    let per_node = counts(nodes.rows.iter().map(|n| n.gpus));
    assert_eq!(
        per_node,
        [(1, 24), (2, 518), (4, 54), (8, 617)].into_iter().collect()
    );
    let all = openb::read_nodes(&dir.join("openb_node_list_all_node.csv"), false).unwrap();
    assert_eq!(all.rows.len(), 1_523);

    let pods = openb::read_pods(&dir.join("openb_pod_list_default.csv"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pods.rows.len(), 8_152);
    let g = counts(pods.rows.iter().map(|p| p.gpus));
    assert_eq!(
        g,
        [(0, 1_088), (1, 6_989), (2, 16), (4, 15), (8, 44)]
            .into_iter()
            .collect()
    );
    let gpu_pods: Vec<_> = pods.rows.iter().filter(|p| p.gpus > 0).collect();
    let per: Vec<f64> = gpu_pods.iter().map(|p| p.gpus as f64).collect();
    assert_eq!((pct(&per, 0.5), pct(&per, 0.9)), (1.0, 1.0));
    let shared: Vec<f64> = gpu_pods
        .iter()
        .filter(|p| p.gpu_milli < 1000)
        .map(|p| p.gpu_milli as f64)
        .collect();
    assert_eq!(shared.len(), 3_078);
    assert_eq!(pct(&shared, 0.5), 470.0);
    let life: Vec<f64> = pods
        .rows
        .iter()
        .filter_map(|p| p.lifetime())
        .map(|t| t as f64 / 1e6)
        .collect();
    near(pct(&life, 0.5), 616.0, 0.5);
    near(pct(&life, 0.9), 7_764.0, 0.5);
    near(pct(&life, 0.99), 114_348.0, 0.5);
    let qos = counts(pods.rows.iter().map(|p| p.qos.as_str()));
    assert_eq!(
        (qos["LS"], qos["BE"], qos["Burstable"], qos["Guaranteed"]),
        (4_647, 3_398, 100, 7)
    );
    let phase = counts(pods.rows.iter().map(|p| p.phase.as_str()));
    assert_eq!(
        (
            phase["Running"],
            phase["Failed"],
            phase["Pending"],
            phase["Succeeded"]
        ),
        (5_193, 1_870, 897, 192)
    );
    let last = pods.rows.iter().filter_map(|p| p.created).max().unwrap();
    assert_eq!(last, 12_901_761_000_000);

    let spec = openb::read_pods(&dir.join("openb_pod_list_gpuspec33.csv"), false).unwrap();
    let c = counts(
        spec.rows
            .iter()
            .filter(|p| !p.gpu_spec.is_empty())
            .map(|p| p.gpu_spec.join("|")),
    );
    assert_eq!(
        (
            c["T4"],
            c["G2"],
            c["P100"],
            c["V100M16|V100M32"],
            c["P100|V100M16|V100M32"]
        ),
        (1_291, 331, 279, 141, 103)
    );
    // The multi-GPU variants have no time columns: read, with no times.
    let multi = openb::read_pods(&dir.join("openb_pod_list_multigpu50.csv"), false).unwrap();
    assert_eq!(multi.rows.len(), 9_061);
    assert!(multi.rows.iter().all(|p| p.created.is_none()));
    let g = counts(multi.rows.iter().filter(|p| p.gpus >= 2).map(|p| p.gpus));
    assert_eq!(g, [(2, 222), (4, 206), (8, 556)].into_iter().collect());
    let per: Vec<f64> = multi
        .rows
        .iter()
        .filter(|p| p.gpus > 0)
        .map(|p| p.gpus as f64)
        .collect();
    assert_eq!(pct(&per, 0.9), 2.0);
}

#[test]
fn gavel_matches_the_reference_statistics() {
    use fleetsim::trace::gavel;
    let Some(dir) = traces() else { return };
    let dir = dir.join("gavel");
    let tput = gavel::read_throughputs(&dir.join("simulation_throughputs.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<_> = std::fs::read_dir(dir.join("msr_seed0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 15);
    let mut jobs = Vec::new();
    let mut sizes = Vec::new();
    for f in &files {
        let t = gavel::read_trace(f, false).unwrap_or_else(|e| panic!("{e}"));
        sizes.push(t.rows.len());
        jobs.extend(t.rows);
    }
    assert_eq!(jobs.len(), 15_264);
    sizes.sort();
    assert_eq!((sizes[0], &sizes[10..]), (3, &[2_000; 5][..]));
    let span = jobs.iter().map(|j| j.arrival).max().unwrap() as f64 / 86_400e6;
    near(span, 125.2, 0.05);
    let g = counts(jobs.iter().map(|j| j.gpus));
    for (gpus, n) in [
        (1, 10_480),
        (2, 463),
        (4, 2_044),
        (8, 1_916),
        (16, 255),
        (32, 91),
    ] {
        assert_eq!(g[&gpus], n, "{gpus}-GPU jobs");
    }
    assert_eq!(jobs.iter().map(|j| j.gpus).max(), Some(64));
    let per: Vec<f64> = jobs.iter().map(|j| j.gpus as f64).collect();
    assert_eq!((pct(&per, 0.5), pct(&per, 0.9)), (1.0, 8.0));
    let family = counts(jobs.iter().map(|j| j.job_type.split(" (").next().unwrap()));
    let want = [
        ("ResNet-18", 3_268),
        ("Transformer", 3_013),
        ("Recommendation", 2_908),
        ("LM", 2_766),
        ("ResNet-50", 2_056),
        ("CycleGAN", 716),
        ("A3C", 537),
    ];
    assert_eq!(family, want.into_iter().collect());
    let v100: Vec<f64> = jobs
        .iter()
        .filter_map(|j| gavel::duration_s(&tput, j, "v100"))
        .collect();
    assert_eq!(v100.len(), 13_716);
    near(pct(&v100, 0.5), 11_221.0, 0.5);
    near(pct(&v100, 0.9), 193_574.0, 0.5);
    near(pct(&v100, 0.99), 2_878_048.0, 0.5);
    let slow = |w: &str| {
        let r: Vec<f64> = jobs
            .iter()
            .filter_map(|j| {
                Some(gavel::duration_s(&tput, j, w)? / gavel::duration_s(&tput, j, "v100")?)
            })
            .collect();
        pct(&r, 0.5)
    };
    near(slow("k80"), 4.17, 0.005);
    near(slow("p100"), 1.26, 0.005);
    // The newer 10-column format reads too.
    let t = gavel::read_trace(&dir.join("physical_cluster/small_test.trace"), false).unwrap();
    assert!(!t.rows.is_empty());
}

#[test]
fn servegen_matches_the_reference_statistics() {
    use fleetsim::trace::servegen;
    let Some(dir) = traces() else { return };
    // (model, clients, windows, aggregate mean/min/max req/s, hour-of-day peak/trough, top-5 share)
    let cases = [
        (
            "language_m-large",
            162,
            2_016,
            (195.84, 48.35, 582.99),
            1.45,
            0.428,
        ),
        (
            "language_m-mid",
            109,
            2_016,
            (1_790.06, 0.0, 3_444.76),
            1.39,
            0.673,
        ),
        (
            "language_m-small",
            43,
            2_016,
            (1_174.40, 0.0, 3_879.51),
            2.21,
            0.770,
        ),
        (
            "reason_deepseek-r1",
            73,
            144,
            (16.01, 4.31, 42.52),
            4.91,
            0.525,
        ),
        (
            "multimodal_mm-image",
            35,
            144,
            (9.47, 4.85, 13.29),
            2.28,
            0.560,
        ),
    ];
    for (model, clients, windows, (mean, min, max), peak_trough, top5) in cases {
        let path = dir.join(format!("servegen/{model}_client_rates.csv.gz"));
        let t = servegen::read(&path, false).unwrap_or_else(|e| panic!("{e}"));
        let by_volume = servegen::clients_by_volume(&t.rows);
        assert_eq!(by_volume.len(), clients, "{model}");
        let mut agg = std::collections::BTreeMap::<u64, f64>::new();
        for w in &t.rows {
            *agg.entry(w.start).or_default() += w.rate_rps;
        }
        assert_eq!(agg.len(), windows, "{model}");
        let v: Vec<f64> = agg.values().copied().collect();
        near(v.iter().sum::<f64>() / v.len() as f64, mean, 0.005);
        near(v.iter().copied().fold(f64::INFINITY, f64::min), min, 0.005);
        near(v.iter().copied().fold(0.0, f64::max), max, 0.005);
        let mut hours = [(0.0, 0u32); 24];
        for (&start, &r) in &agg {
            let h = ((start / 3_600_000_000) % 24) as usize;
            hours[h].0 += r;
            hours[h].1 += 1;
        }
        let hm: Vec<f64> = hours.iter().map(|(s, n)| s / *n as f64).collect();
        let pt = hm.iter().copied().fold(0.0, f64::max)
            / hm.iter().copied().fold(f64::INFINITY, f64::min);
        near(pt, peak_trough, 0.005);
        let total: f64 = by_volume.iter().map(|c| c.1).sum();
        let share = by_volume.iter().take(5).map(|c| c.1).sum::<f64>() / total;
        near(share, top5, 0.0005);
    }
}

#[test]
fn new_readers_report_bad_rows() {
    use fleetsim::trace::{dirlab, gavel, openb, servegen};
    let p = write(
        "cut.csv",
        "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n\
         0,1,1,0,1,0,100,0,Pass\n\
         1,1,x,0,1,10,100,0,Pass\n\
         2,1,1,0,1,-5,100,0,Pass\n\
         3,1,2,0,1,20,100,0,Killed\n",
    );
    let err = dirlab::read(&p, false).unwrap_err().to_string();
    assert!(
        err.contains("2 bad row(s)")
            && err.contains("line 3: field `gpu_num`")
            && err.contains("line 4: field `interval`"),
        "{err}"
    );
    let t = dirlab::read(&p, true).unwrap();
    // The bad row's interval still counts: the last job was submitted at 0 + 10 + 20 s.
    assert_eq!(
        (t.rows.len(), t.skipped.len(), t.rows[1].submit),
        (2, 2, 30_000_000)
    );

    let p = write(
        "pods.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
         a,1,1,1,1000,,LS,Running,10,100,10\n\
         b,1,1,1,1000,,LS,Running,5,100,5\n\
         c,1,1,1,1000,,LS,Running,20,15,20\n",
    );
    let err = openb::read_pods(&p, false).unwrap_err().to_string();
    assert!(
        err.contains("line 3: field `creation_time`")
            && err.contains("line 4: field `deletion_time`"),
        "{err}"
    );

    let p = write(
        "rates.csv",
        "client_id,window_start_s,rate_rps,cv\n1,0,2,1\n1,0,3,1\n1,600,-1,1\n",
    );
    let err = servegen::read(&p, false).unwrap_err().to_string();
    assert!(
        err.contains("line 3: field `window_start_s`") && err.contains("line 4: field `rate_rps`"),
        "{err}"
    );

    let p = write(
        "g.trace",
        "A3C\tcmd\t-n\t1\t100\t0.0\t1\nA3C\tcmd\t-n\t1\t100\t9.0\t0\nA3C\tcmd\t-n\t1\tmany\t10.0\t1\n",
    );
    let err = gavel::read_trace(&p, false).unwrap_err().to_string();
    assert!(
        err.contains("line 2: field `scale_factor`") && err.contains("line 3: field `total_steps`"),
        "{err}"
    );
}

fn write_bytes(name: &str, bytes: &[u8]) -> PathBuf {
    let p = write(name, "");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// What a reader made of a file: each row (its `Debug` text), its time in µs, and the bad rows.
struct Got {
    rows: Vec<String>,
    times: Vec<u64>,
    bad: Vec<fleetsim::trace::BadRow>,
}

type Reader = fn(&std::path::Path, bool) -> Result<Got, TraceError>;

fn got<T: std::fmt::Debug>(
    r: Result<fleetsim::trace::Loaded<T>, TraceError>,
    time: fn(&T) -> u64,
) -> Result<Got, TraceError> {
    r.map(|l| Got {
        rows: l.rows.iter().map(|x| format!("{x:?}")).collect(),
        times: l.rows.iter().map(time).collect(),
        bad: l.skipped,
    })
}

/// One ordered reader's small trace: a header (or none), a good row `i` at time `10 i` s, a
/// row whose time is out of range (and the field it names), and the times (s) of the good rows
/// around such a row at index 2.
struct Case {
    name: &'static str,
    header: &'static str,
    good: fn(u64) -> String,
    huge: &'static str,
    field: &'static str,
    around_huge: [u64; 5],
    read: Reader,
}

fn cases() -> Vec<Case> {
    use fleetsim::trace::{dirlab, gavel, mooncake, openb, servegen};
    vec![
        Case {
            name: "azure.csv",
            header: "TIMESTAMP,ContextTokens,GeneratedTokens",
            good: |i| format!("2023-11-16 18:17:{:02}.0000000,100,5", 10 * i),
            huge: "3000-11-16 18:17:00.0000000,100,5",
            field: "TIMESTAMP",
            around_huge: [0, 10, 30, 40, 50],
            read: |p, l| got(azure::read(p, l), |r| r.at),
        },
        Case {
            name: "mooncake.jsonl",
            header: "",
            good: |i| {
                format!(
                    "{{\"timestamp\": {}, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1]}}",
                    10_000 * i
                )
            },
            huge: "{\"timestamp\": 20000000000000000, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1]}",
            field: "timestamp",
            around_huge: [0, 10, 30, 40, 50],
            read: |p, l| got(mooncake::read(p, l), |r| r.request.at),
        },
        Case {
            name: "dirlab.csv",
            header: "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status",
            good: |i| format!("{i},u,1,0,1,{},100,0,Pass", if i == 0 { 0 } else { 10 }),
            huge: "2,u,1,0,1,1e12,100,0,Pass",
            field: "interval",
            // The out-of-range interval does not move the clock.
            around_huge: [0, 10, 20, 30, 40],
            read: |p, l| got(dirlab::read(p, l), |j| j.submit),
        },
        Case {
            name: "pods.csv",
            header: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time",
            good: |i| {
                format!(
                    "p{i},1,1,1,1000,,LS,Running,{},{},{}",
                    10 * i,
                    10 * i + 100,
                    10 * i
                )
            },
            huge: "p2,1,1,1,1000,,LS,Running,99999999999999999999,99999999999999999999,99999999999999999999",
            field: "creation_time",
            around_huge: [0, 10, 30, 40, 50],
            read: |p, l| got(openb::read_pods(p, l), |p| p.created.unwrap()),
        },
        Case {
            name: "rates.csv",
            header: "client_id,window_start_s,rate_rps,cv",
            good: |i| format!("1,{},2,1", 10 * i),
            huge: "1,1e12,2,1",
            field: "window_start_s",
            around_huge: [0, 10, 30, 40, 50],
            read: |p, l| got(servegen::read(p, l), |w| w.start),
        },
        Case {
            name: "gavel.trace",
            header: "",
            good: |i| format!("A3C\tcmd\t-n\t1\t100\t{}.0\t1", 10 * i),
            huge: "A3C\tcmd\t-n\t1\t100\t1e12\t1",
            field: "arrival_time",
            around_huge: [0, 10, 30, 40, 50],
            read: |p, l| got(gavel::read_trace(p, l), |j| j.arrival),
        },
    ]
}

impl Case {
    /// The file's text: the header, then `rows` (LF line ends).
    fn text(&self, rows: &[String]) -> String {
        let mut t = String::new();
        if !self.header.is_empty() {
            t.push_str(self.header);
            t.push('\n');
        }
        for r in rows {
            t.push_str(r);
            t.push('\n');
        }
        t
    }

    /// Good rows 0-1, the out-of-range row, good rows 3-5.
    fn with_huge(&self) -> String {
        let rows: Vec<String> = (0..6)
            .map(|i| {
                if i == 2 {
                    self.huge.to_string()
                } else {
                    (self.good)(i)
                }
            })
            .collect();
        self.text(&rows)
    }

    /// The line of data row `i` (0-based).
    fn line(&self, i: u64) -> u64 {
        i + 1 + u64::from(!self.header.is_empty())
    }
}

#[test]
fn an_out_of_range_time_is_its_rows_error_not_a_cascade_on_the_good_rows_after_it() {
    for c in cases() {
        let p = write(&format!("cascade-{}", c.name), &c.with_huge());
        let t = (c.read)(&p, true).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let at: Vec<(u64, &str)> = t.bad.iter().map(|b| (b.line, b.field.as_str())).collect();
        assert_eq!(at, vec![(c.line(2), c.field)], "{}: {:?}", c.name, t.bad);
        assert!(
            t.bad[0].message.contains("out of range") || t.bad[0].message.contains("past"),
            "{}: {}",
            c.name,
            t.bad[0].message
        );
        let s: Vec<u64> = t.times.iter().map(|t| t / 1_000_000).collect();
        assert_eq!(s, c.around_huge, "{}", c.name);
        assert_eq!(t.rows.len(), 5, "{}", c.name);
    }
}

#[test]
fn a_row_earlier_than_the_last_good_row_is_bad_and_bad_rows_are_no_reference() {
    use fleetsim::trace::openb;
    // Row 2 (line 3) is bad in another field (deleted before scheduled): its creation time
    // (100 s) is no reference, so row 3 at 50 s is good; row 4 at 20 s is earlier than row 3.
    let p = write(
        "pods-reference.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
         a,1,1,1,1000,,LS,Running,10,100,10\n\
         b,1,1,1,1000,,LS,Running,100,50,100\n\
         c,1,1,1,1000,,LS,Running,50,100,50\n\
         d,1,1,1,1000,,LS,Running,20,100,20\n",
    );
    let t = openb::read_pods(&p, true).unwrap();
    let at: Vec<(u64, &str)> = t
        .skipped
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(at, vec![(3, "deletion_time"), (5, "creation_time")]);
    assert!(t.skipped[1].message.contains("line 4"), "{}", t.skipped[1]);
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn huge_values_are_bad_rows_naming_the_field_and_its_range_not_overflow_panics() {
    use fleetsim::trace::{dirlab, gavel, mooncake, openb, servegen};
    // Year 300000 once overflowed the multiplication to µs.
    let p = write(
        "year.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n300000-11-16 18:15:46.68,374,44\n2023-11-16 18:15:46.68,374,44\n",
    );
    let t = azure::read(&p, true).unwrap();
    assert_eq!((t.rows.len(), t.skipped.len()), (1, 1));
    let b = &t.skipped[0];
    assert!(
        b.line == 2 && b.field == "TIMESTAMP" && b.message.contains("1970 to 2099"),
        "{b}"
    );
    // 2e16 ms and u64::MAX ms once overflowed too; the largest valid timestamp reads.
    let row = |ms: &str| {
        format!(
            "{{\"timestamp\": {ms}, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": []}}\n"
        )
    };
    let text = [
        row("0"),
        row("20000000000000000"),
        row("18446744073709551615"),
        row("3155760000000"),
    ]
    .concat();
    let t = mooncake::read(&write("ts.jsonl", &text), true).unwrap();
    let at: Vec<(u64, &str)> = t
        .skipped
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(at, vec![(2, "timestamp"), (3, "timestamp")]);
    assert!(
        t.skipped[0].message.contains("0 to 3155760000000 ms"),
        "{}",
        t.skipped[0]
    );
    assert_eq!(t.rows[1].request.at, fleetsim::trace::MAX_TIME);

    // Seconds columns: 1e300 is out of range (not clamped), the bound itself is in.
    let p = write(
        "huge-run.csv",
        "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n\
         0,u,1,0,1,0,1e300,0,Pass\n1,u,1,0,1,1e300,1,0,Pass\n2,u,1,0,1,3155760000,3155760000,0,Pass\n",
    );
    let t = dirlab::read(&p, true).unwrap();
    let at: Vec<(u64, &str)> = t
        .skipped
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(at, vec![(2, "run_time"), (3, "interval")]);
    assert_eq!(t.rows[0].submit, fleetsim::trace::MAX_TIME);
    let p = write(
        "huge-pods.csv",
        "name,num_gpu,gpu_milli,creation_time,deletion_time,scheduled_time\n\
         a,1,1000,0,1e300,0\nb,1,1000,0,5,1e300\n",
    );
    let t = openb::read_pods(&p, true).unwrap();
    let at: Vec<(u64, &str)> = t
        .skipped
        .iter()
        .map(|b| (b.line, b.field.as_str()))
        .collect();
    assert_eq!(at, vec![(2, "deletion_time"), (3, "scheduled_time")]);
    let p = write(
        "huge-rates.csv",
        "client_id,window_start_s,rate_rps,cv\n1,1e300,1,1\n",
    );
    let t = servegen::read(&p, true).unwrap();
    assert_eq!(t.skipped[0].field, "window_start_s");
    let p = write("huge.trace", "A3C\tcmd\t-n\t1\t100\t1e300\t1\n");
    let t = gavel::read_trace(&p, true).unwrap();
    assert_eq!(t.skipped[0].field, "arrival_time");
    assert!(
        t.skipped[0].message.contains("(100 years)"),
        "{}",
        t.skipped[0]
    );
}

#[test]
fn line_numbers_are_true_with_lf_crlf_and_cr_line_ends() {
    for c in cases() {
        let lf = c.with_huge();
        let mut seen = Vec::new();
        for (end, text) in [
            ("lf", lf.clone()),
            ("crlf", lf.replace('\n', "\r\n")),
            ("cr", lf.replace('\n', "\r")),
        ] {
            let p = write(&format!("ends-{end}-{}", c.name), &text);
            let err = (c.read)(&p, false)
                .err()
                .unwrap_or_else(|| panic!("{}", c.name));
            let TraceError::BadRows { count, first, .. } = &err else {
                panic!("{} ({end}): {err}", c.name)
            };
            assert_eq!(
                (*count, first[0].line, first[0].field.as_str()),
                (1, c.line(2), c.field),
                "{} ({end})",
                c.name
            );
            seen.push((c.read)(&p, true).unwrap().rows);
        }
        assert!(seen.iter().all(|r| *r == seen[0]), "{}: {seen:?}", c.name);
    }
}

#[test]
fn a_bom_is_accepted_by_every_reader() {
    use fleetsim::trace::{gavel, openb};
    for c in cases() {
        let text = c.text(&(0..3).map(c.good).collect::<Vec<_>>());
        let plain = (c.read)(&write(&format!("nobom-{}", c.name), &text), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let p = write_bytes(
            &format!("bom-{}", c.name),
            &[b"\xEF\xBB\xBF", text.as_bytes()].concat(),
        );
        let bom = (c.read)(&p, false).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        // Whole rows: a BOM kept in the first field (a Gavel job type) would differ.
        assert_eq!(bom.rows, plain.rows, "{}", c.name);
        assert_eq!(plain.rows.len(), 3);
    }
    let p = write_bytes("bom-nodes.csv", b"\xEF\xBB\xBFsn,gpu,model\nn1,8,G2\n");
    assert_eq!(openb::read_nodes(&p, false).unwrap().rows[0].name, "n1");
    let p = write_bytes(
        "bom-tput.json",
        b"\xEF\xBB\xBF{\"v100\": {\"('A3C', 1)\": {\"null\": 2.5}}}",
    );
    let t = gavel::read_throughputs(&p).unwrap();
    assert_eq!(t[&("A3C".to_string(), 1)]["v100"], 2.5);
}

#[test]
fn invalid_utf8_is_a_bad_row_at_its_line() {
    use fleetsim::trace::{mooncake, openb};
    let row = |t: u32, note: &[u8]| {
        [
            format!("{{\"timestamp\": {t}, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1], \"note\": \"").as_bytes(),
            note,
            b"\"}\n",
        ]
        .concat()
    };
    let text = [
        row(0, b"a"),
        row(1, "é".as_bytes()),
        row(2, b"\xff"),
        row(3, b"b"),
    ]
    .concat();
    let p = write_bytes("bad-utf8.jsonl", &text);
    let err = mooncake::read(&p, false).unwrap_err();
    let TraceError::BadRows { count, first, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*count, first[0].line), (1, 3), "{err}");
    assert!(first[0].message.contains("UTF-8"), "{err}");
    let t = mooncake::read(&p, true).unwrap();
    assert_eq!((t.rows.len(), t.skipped.len()), (3, 1));

    // In a CSV row: the field is named.
    let p = write_bytes(
        "bad-utf8.csv",
        b"sn,gpu,model\nn1,8,G2\nn2,8,G\xff2\nn3,8,T4\n",
    );
    let t = openb::read_nodes(&p, true).unwrap();
    assert_eq!(t.rows.len(), 2);
    let b = &t.skipped[0];
    assert_eq!((b.line, b.field.as_str()), (3, "model"), "{b}");
    assert!(b.message.contains("UTF-8"), "{b}");

    // A JSON error in a JSONL row names the column, not serde's "line 1" of the row alone.
    let p = write(
        "not-json.jsonl",
        "{\"timestamp\": 0}\n\n{\"timestamp\": }\n",
    );
    let t = mooncake::read(&p, true).unwrap();
    let b = &t.skipped[1];
    assert_eq!((b.line, b.field.as_str()), (3, "(row)"), "{b}");
    assert!(
        b.message.contains("column 15") && !b.message.contains("line 1"),
        "{b}"
    );
}

/// Writes `rows` of UTF-8 `text` so that a 2-byte `é` is cut by the byte offset `boundary`
/// (a read or buffer edge): filler rows, then the row `row(name)` with `name` padded to put
/// the `é` there, then one more filler row. Returns the text and the padded name.
fn straddling(
    header: &str,
    filler: &dyn Fn(usize) -> String,
    row: &dyn Fn(usize, &str) -> String,
    boundary: usize,
) -> (Vec<u8>, String) {
    let mut text = String::new();
    if !header.is_empty() {
        text.push_str(header);
        text.push('\n');
    }
    let mut i = 0;
    while text.len() + 2 * filler(i).len() + 200 < boundary {
        text.push_str(&filler(i));
        text.push('\n');
        i += 1;
    }
    let at = row(i, "\u{0}").find('\u{0}').unwrap();
    let pad = boundary - 1 - (text.len() + at);
    let name = format!("{}é", "x".repeat(pad));
    text.push_str(&row(i, &name));
    text.push('\n');
    text.push_str(&filler(i + 1));
    text.push('\n');
    let bytes = text.into_bytes();
    assert_eq!(&bytes[boundary - 1..=boundary], "é".as_bytes());
    (bytes, name)
}

#[test]
fn a_character_across_a_read_boundary_is_whole_in_every_reader() {
    use fleetsim::trace::{dirlab, gavel, mooncake, openb, servegen};
    // 8 KiB is the CSV reader's buffer, 64 KiB the JSON Lines buffer and Gavel's old sniff.
    for boundary in [8 << 10, 64 << 10] {
        let gavel_row = |i: usize, name: &str| format!("{name}\tcmd\t-n\t1\t100\t{i}.0\t1");
        let (b, name) = straddling("", &|i| gavel_row(i, "A3C"), &gavel_row, boundary);
        let t = gavel::read_trace(&write_bytes("straddle.trace", &b), false)
            .unwrap_or_else(|e| panic!("{boundary}: {e}"));
        assert!(t.rows.iter().any(|j| j.job_type == name));

        let node = |i: usize, name: &str| format!("{name}{i},8,G2");
        let (b, name) = straddling("sn,gpu,model", &|i| node(i, "n"), &node, boundary);
        let t = openb::read_nodes(&write_bytes("straddle-nodes.csv", &b), false).unwrap();
        assert!(t.rows.iter().any(|n| n.name.starts_with(&name)));

        let job = |i: usize, name: &str| format!("{i},{name},1,0,1,1,100,0,Pass");
        let (b, name) = straddling(
            "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status",
            &|i| job(i, "u"),
            &job,
            boundary,
        );
        let t = dirlab::read(&write_bytes("straddle-cut.csv", &b), false).unwrap();
        assert!(t.rows.iter().any(|j| j.user == name));

        let rate = |i: usize, name: &str| format!("{name},{},1,1", 600 * i);
        let (b, name) = straddling(
            "client_id,window_start_s,rate_rps,cv",
            &|i| rate(i, "c"),
            &rate,
            boundary,
        );
        let t = servegen::read(&write_bytes("straddle-rates.csv", &b), false).unwrap();
        assert!(t.rows.iter().any(|w| w.client == name));

        let req = |i: usize, name: &str| {
            format!(
                "{{\"timestamp\": {i}, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [], \"note\": \"{name}\"}}"
            )
        };
        let (b, _) = straddling("", &|i| req(i, "n"), &req, boundary);
        let n = b.iter().filter(|&&c| c == b'\n').count();
        let t = mooncake::read(&write_bytes("straddle.jsonl", &b), false).unwrap();
        assert_eq!(t.rows.len(), n);
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn every_gzip_member_is_read_and_bytes_after_the_last_are_an_error() {
    use fleetsim::trace::{mooncake, servegen};
    let head = "client_id,window_start_s,rate_rps,cv\n0,0,1,1\n0,600,1,1\n0,1200,1,1\n";
    let tail = "1,0,5,1\n1,600,5,1\n1,1200,5,1\n";
    let plain = servegen::read(&write("members.csv", &format!("{head}{tail}")), false).unwrap();
    // `cat a.gz b.gz`: two members, one file.
    let two = [gz(head.as_bytes()), gz(tail.as_bytes())].concat();
    let t = servegen::read(&write_bytes("members.csv.gz", &two), false).unwrap();
    assert_eq!(t.rows, plain.rows);
    assert_eq!(t.rows.len(), 6);

    let j = |t: u32| {
        format!(
            "{{\"timestamp\": {t}, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": []}}\n"
        )
    };
    let two = [gz(j(0).as_bytes()), gz(j(5).as_bytes())].concat();
    let t = mooncake::read(&write_bytes("members.jsonl.gz", &two), false).unwrap();
    assert_eq!(t.rows.len(), 2);

    // Bytes after the last member (garbage, zero padding) stop the read at the line after
    // the last one (line 8: the header and six rows came before).
    for (name, trailer) in [
        ("garbage.csv.gz", &b"garbage"[..]),
        ("zeros.csv.gz", &[0u8; 16][..]),
    ] {
        let bytes = [gz(head.as_bytes()), gz(tail.as_bytes()), trailer.to_vec()].concat();
        let err = servegen::read(&write_bytes(name, &bytes), true).unwrap_err();
        let TraceError::Format { file, line, .. } = &err else {
            panic!("{err}")
        };
        assert!(file.ends_with(name) && *line == 8, "{err}");
        assert!(err.to_string().contains("gzip"), "{err}");
    }
}

#[test]
fn gzip_and_json_errors_name_a_real_line() {
    use fleetsim::trace::{gavel, servegen};
    let head = "client_id,window_start_s,rate_rps,cv\n0,0,1,1\n0,600,1,1\n0,1200,1,1\n";
    // A wrong checksum at the end of the first member: its 4 lines are read, line 5 is not.
    let mut bad_crc = gz(head.as_bytes());
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    // A second member cut after its header.
    let cut = [gz(head.as_bytes()), gz(b"1,0,5,1\n")[..10].to_vec()].concat();
    for (name, bytes) in [("crc.csv.gz", bad_crc), ("cut.csv.gz", cut)] {
        let err = servegen::read(&write_bytes(name, &bytes), true).unwrap_err();
        let TraceError::Format { line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 5, "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }

    // The throughput matrix: a syntax error, a bad key, a worker that is not an object and a
    // negative throughput each at their line, also with CR line ends.
    let ok = "{\n \"v100\": {\n  \"('A3C', 1)\": {\"null\": 2.5}\n }\n}\n";
    let cases = [
        (ok.replace("2.5}", "2.5,}"), 3),
        (ok.replace("('A3C', 1)", "A3C"), 3),
        ("{\n \"v100\": 5\n}\n".to_string(), 2),
        (ok.replace("2.5", "-1"), 3),
        (
            "{\n \"v100\": {\n  \"('A3C', 1)\": {\"x\": 2.5}\n }\n}\n".to_string(),
            3,
        ),
        (format!("{ok}\n\n[]"), 8),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        for (end, text) in [("lf", text.clone()), ("cr", text.replace('\n', "\r"))] {
            let p = write(&format!("tput-{i}-{end}.json"), &text);
            let err = gavel::read_throughputs(&p).unwrap_err();
            let TraceError::Format { line, .. } = &err else {
                panic!("{err}")
            };
            assert_eq!(line, want, "case {i} ({end}): {err}");
        }
    }
    let t = gavel::read_throughputs(&write("tput-ok.json", ok)).unwrap();
    assert_eq!(t.len(), 1);
}
