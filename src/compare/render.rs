//! Terminal tables for side-by-side runs: the policy comparison, its per-GPU-type breakdown,
//! and the switch-cost sweep.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::{PolicySummary, Stat, Sweep};
use crate::report::num;

pub(crate) fn table(header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header);
    t
}

pub(crate) fn right(t: &mut Table) {
    for i in 1..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// `mean` (or `mean ± ci`) scaled by `k`, with `d` decimals.
/// A figure some runs may lack: `-` when none has it.
fn cell_opt(s: &Option<Stat>, k: f64, d: usize) -> String {
    s.as_ref().map_or_else(|| "-".into(), |s| cell(s, k, d))
}

fn cell(s: &Stat, k: f64, d: usize) -> String {
    if s.ci95 > 0.0 {
        format!("{} ± {}", num(s.mean * k, d), num(s.ci95 * k, d))
    } else {
        num(s.mean * k, d)
    }
}

pub fn render_comparison(sums: &[PolicySummary], by_type: bool) -> String {
    let runs = sums.first().map_or(0, |s| s.runs);
    let mut out = String::new();
    if runs > 1 {
        out.push_str(&format!(
            "mean ± 95 % confidence half-width over {runs} seeds\n"
        ));
    }
    let mut t = table(
        [
            "policy",
            "util %",
            "M tok/GPU-h",
            "tenant sw GPU-h",
            "workflow sw GPU-h",
            "SLO %",
            "train wait p50/p99 h",
            "train done p50/p99 h",
            "job wait p50/p99 h",
            "revenue M$",
            "margin %",
        ]
        .map(String::from)
        .to_vec(),
    );
    for s in sums {
        t.add_row(vec![
            s.policy.clone(),
            cell(&s.gpu_utilization, 100.0, 1),
            cell(&s.tokens_per_gpu_hour, 1e-6, 2),
            cell(&s.tenant_switch_gpu_hours, 1.0, 0),
            cell(&s.workflow_switch_gpu_hours, 1.0, 0),
            cell(&s.slo_attainment, 100.0, 1),
            format!(
                "{} / {}",
                cell_opt(&s.training_wait_p50_hours, 1.0, 1),
                cell_opt(&s.training_wait_p99_hours, 1.0, 1)
            ),
            format!(
                "{} / {}",
                cell_opt(&s.training_completion_p50_hours, 1.0, 1),
                cell_opt(&s.training_completion_p99_hours, 1.0, 1)
            ),
            format!(
                "{} / {}",
                cell_opt(&s.job_wait_p50_hours, 1.0, 1),
                cell_opt(&s.job_wait_p99_hours, 1.0, 1)
            ),
            cell(&s.revenue_usd, 1e-6, 3),
            cell(&s.gross_margin, 100.0, 1),
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push('\n');
    // Work, money, guarantees and energy.
    let mut t = table(
        [
            "policy",
            "work/GPU-h",
            "billed %",
            "shortfall GPU-h",
            "SLA credits k$",
            "cost M$",
            "MWh",
            "peak MW",
            "M tok/kWh",
        ]
        .map(String::from)
        .to_vec(),
    );
    for s in sums {
        t.add_row(vec![
            s.policy.clone(),
            cell(&s.work_per_gpu_hour, 1.0, 3),
            cell(&s.billed_utilization, 100.0, 1),
            cell(&s.guarantee_shortfall_gpu_hours, 1.0, 0),
            cell(&s.sla_credits_usd, 1e-3, 1),
            cell(&s.cost_usd, 1e-6, 3),
            cell(&s.energy_mwh, 1.0, 0),
            cell(&s.peak_mw, 1.0, 2),
            cell_opt(&s.tokens_per_kwh, 1e-6, 2),
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push('\n');
    let never: Vec<String> = (sums.iter())
        .filter(|s| s.jobs_never_started.mean > 0.0)
        .map(|s| format!("{} {}", s.policy, num(s.jobs_never_started.mean, 0)))
        .collect();
    if !never.is_empty() {
        out.push_str(&format!(
            "wait and completion figures are lower bounds where jobs never started by the horizon (they count with their wait so far): {}\n",
            never.join(", ")
        ));
    }
    if by_type {
        let types: Vec<String> = sums
            .first()
            .map(|s| s.by_gpu_type.keys().cloned().collect())
            .unwrap_or_default();
        let mut header = vec!["policy".to_string()];
        for ty in &types {
            header.push(format!("{ty} util %"));
            header.push(format!("{ty} M tok/GPU-h"));
        }
        let mut t = table(header);
        for s in sums {
            let mut row = vec![s.policy.clone()];
            for ty in &types {
                let (u, k) = &s.by_gpu_type[ty];
                row.push(cell(u, 100.0, 1));
                row.push(cell(k, 1e-6, 2));
            }
            t.add_row(row);
        }
        right(&mut t);
        out.push('\n');
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out
}

pub fn render_sweep(sw: &Sweep) -> String {
    let names: Vec<String> = sw
        .rows
        .first()
        .map(|r| r.policies.iter().map(|p| p.policy.clone()).collect())
        .unwrap_or_default();
    let mut out = String::new();
    for (title, pick, k, d) in [
        (
            "GPU utilization (%) by switch-cost scale",
            0usize,
            100.0,
            1usize,
        ),
        (
            "tokens per GPU-hour (millions) by switch-cost scale",
            1,
            1e-6,
            2,
        ),
        (
            "work (H100-equivalent GPU-hours) per GPU-hour by switch-cost scale",
            2,
            1.0,
            3,
        ),
    ] {
        out.push_str(title);
        out.push('\n');
        let mut header = vec!["switch cost x".to_string()];
        header.extend(names.iter().cloned());
        let mut t = table(header);
        for row in &sw.rows {
            let mut r = vec![format!("{}", row.switch_cost_scale)];
            for p in &row.policies {
                let s = match pick {
                    0 => &p.gpu_utilization,
                    1 => &p.tokens_per_gpu_hour,
                    _ => &p.work_per_gpu_hour,
                };
                r.push(cell(s, k, d));
            }
            t.add_row(r);
        }
        right(&mut t);
        out.push_str(&t.to_string());
        out.push_str("\n\n");
    }
    let max = sw.rows.last().map_or(0.0, |r| r.switch_cost_scale);
    out.push_str(&format!(
        "advantage over `{}` disappears at switch-cost scale:\n",
        sw.baseline
    ));
    let mut t = table(vec![
        "policy".into(),
        "tokens per GPU-hour".into(),
        "utilization".into(),
        "work per GPU-hour".into(),
    ]);
    let at = |x: Option<f64>| x.map_or(format!("beyond {max}x"), |v| format!("{v:.2}x"));
    // The crossing of the means, and the range of the seeds' own crossings; a difference
    // within the seeds' noise at every scale has no crossing to read.
    let show = |x: Option<f64>, s: &super::SeedCrossings| {
        if s.never_distinguishable() {
            "not distinguishable".to_string()
        } else if s.per_seed.len() >= 2 && s.low.is_some() {
            format!("{} (seeds {}-{})", at(x), at(s.low), at(s.high))
        } else {
            at(x)
        }
    };
    for v in &sw.vanishing {
        t.add_row(vec![
            v.policy.clone(),
            show(v.tokens_per_gpu_hour_at, &v.tokens_per_gpu_hour_seeds),
            show(v.gpu_utilization_at, &v.gpu_utilization_seeds),
            show(v.work_per_gpu_hour_at, &v.work_per_gpu_hour_seeds),
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push('\n');
    out
}
