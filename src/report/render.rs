//! Terminal rendering of a report: a headline table, then per GPU type, kind and tenant.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::Report;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn right(t: &mut Table) {
    for i in 1..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// What the wait figures leave open: jobs that never started count with their wait up to the
/// horizon, so the figures are lower bounds.
fn censored_note(j: &super::Jobs) -> String {
    let never: u64 = j.never_started.values().sum();
    if never == 0 {
        String::new()
    } else {
        format!(" (lower bounds: {} never started)", num(never as f64, 0))
    }
}

/// A figure that may be absent (no values): `-` then.
pub fn opt_num(x: Option<f64>, d: usize) -> String {
    x.map_or_else(|| "-".into(), |x| num(x, d))
}

/// Number with thousands separators and `d` decimals.
pub fn num(x: f64, d: usize) -> String {
    let s = format!("{:.*}", d, x.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if x < 0.0 && x.abs() >= 0.5 * 10f64.powi(-(d as i32)) {
        format!("-{out}")
    } else {
        out
    }
}

/// Large counts in engineering notation (`12.3 B`).
pub fn big(x: f64) -> String {
    let (v, u) = if x >= 1e12 {
        (x / 1e12, " T")
    } else if x >= 1e9 {
        (x / 1e9, " B")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, "")
    };
    format!("{v:.2}{u}")
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "scenario {}  policy {}  seed {}  horizon {} h  {} GPUs\n\n",
        r.scenario,
        r.policy,
        r.seed,
        num(r.horizon_hours, 1),
        num(r.gpus as f64, 0)
    ));

    let g = &r.gpu_hours;
    let mut t = table(&["fleet", "value"]);
    t.add_row(vec![
        "GPU utilization (productive / total)".into(),
        pct(r.gpu_utilization),
    ]);
    t.add_row(vec![
        "tokens per GPU-hour".into(),
        num(r.tokens_per_gpu_hour, 0),
    ]);
    t.add_row(vec!["tokens".into(), big(r.tokens)]);
    t.add_row(vec!["GPU-hours total".into(), num(g.total, 0)]);
    t.add_row(vec!["  productive".into(), num(g.productive, 0)]);
    t.add_row(vec!["  tenant switch".into(), num(g.tenant_switch, 0)]);
    t.add_row(vec!["  workflow switch".into(), num(g.workflow_switch, 0)]);
    t.add_row(vec!["  idle".into(), num(g.idle, 0)]);
    t.add_row(vec!["  down".into(), num(g.down, 0)]);
    t.add_row(vec![
        "switches (tenant / workflow)".into(),
        format!("{} / {}", r.switches.tenant, r.switches.workflow),
    ]);
    t.add_row(vec![
        "inference SLO attainment (on time / demanded; worst service)".into(),
        match (&r.inference.worst_service, r.inference.worst_slo_attainment) {
            (Some(n), Some(w)) => format!("{} ; {} {n}", pct(r.inference.slo_attainment), pct(w)),
            _ => pct(r.inference.slo_attainment),
        },
    ]);
    if r.inference.demanded_prompt_tokens > 0.0 {
        t.add_row(vec![
            "inference output / prompt tokens served".into(),
            format!(
                "{} / {}",
                big(r.inference.served_tokens),
                big(r.inference.served_prompt_tokens)
            ),
        ]);
    }
    t.add_row(vec![
        "jobs submitted / completed / running / queued / rejected".into(),
        format!(
            "{} / {} / {} / {} / {}",
            r.jobs.submitted, r.jobs.completed, r.jobs.running, r.jobs.queued, r.jobs.rejected
        ),
    ]);
    t.add_row(vec![
        "job wait p50 / p99 (h)".into(),
        format!(
            "{} / {}{}",
            opt_num(r.jobs.wait_hours.p50, 2),
            opt_num(r.jobs.wait_hours.p99, 2),
            censored_note(&r.jobs)
        ),
    ]);
    t.add_row(vec![
        "preemptions / failures".into(),
        format!("{} / {}", r.jobs.preemptions, r.engine_stats.failures),
    ]);
    t.add_row(vec![
        "work (H100-equivalent GPU-hours; per GPU-hour)".into(),
        format!(
            "{} ; {}",
            num(r.work.h100_gpu_hours, 0),
            opt_num(r.work.per_gpu_hour, 3)
        ),
    ]);
    let e = &r.economics;
    t.add_row(vec![
        "billed utilization (billed / total GPU-hours)".into(),
        pct(e.billed_utilization),
    ]);
    let c = &e.revenue_by_contract;
    t.add_row(vec![
        "revenue (USD): committed / on-demand / spot / per-token".into(),
        format!(
            "{} / {} / {} / {}",
            num(c.committed, 0),
            num(c.on_demand, 0),
            num(c.spot, 0),
            num(c.per_token, 0)
        ),
    ]);
    t.add_row(vec![
        "  of committed: burst beyond reservations".into(),
        num(e.burst_usd, 0),
    ]);
    t.add_row(vec![
        "guarantee shortfall (GPU-h; in tenant switches) / SLA credits (USD)".into(),
        format!(
            "{} ({}) / {}",
            num(e.guarantee_shortfall_gpu_hours, 0),
            num(e.shortfall_in_switch_gpu_hours, 0),
            num(e.sla_credits_usd, 0)
        ),
    ]);
    t.add_row(vec![
        "revenue (USD, net of credits)".into(),
        num(e.revenue_usd, 0),
    ]);
    t.add_row(vec![
        "cost (USD): capital / energy".into(),
        format!(
            "{} / {}",
            num(e.cost_by_part.capital, 0),
            num(e.cost_by_part.energy, 0)
        ),
    ]);
    t.add_row(vec!["gross margin".into(), pct(e.gross_margin)]);
    let en = &r.energy;
    t.add_row(vec![
        "energy (MWh; mean / peak MW)".into(),
        format!(
            "{} ; {} / {}",
            num(en.kwh / 1e3, 1),
            num(en.mean_mw, 2),
            num(en.peak_mw, 2)
        ),
    ]);
    t.add_row(vec!["tokens per kWh".into(), opt_num(en.tokens_per_kwh, 0)]);
    right(&mut t);
    out.push_str(&t.to_string());
    out.push_str("\n\n");

    let mut t = table(&[
        "GPU type",
        "GPUs",
        "util",
        "tok/GPU-h",
        "tenant sw h",
        "workflow sw h",
        "idle h",
        "down h",
        "work/GPU-h",
        "MWh",
        "peak MW",
        "revenue $",
        "cost $",
    ]);
    for (name, f) in &r.by_gpu_type {
        t.add_row(vec![
            name.clone(),
            num(f.gpus as f64, 0),
            pct(f.gpu_utilization),
            num(f.tokens_per_gpu_hour, 0),
            num(f.gpu_hours.tenant_switch, 0),
            num(f.gpu_hours.workflow_switch, 0),
            num(f.gpu_hours.idle, 0),
            num(f.gpu_hours.down, 0),
            opt_num(f.work.per_gpu_hour, 3),
            num(f.energy.kwh / 1e3, 1),
            num(f.energy.peak_mw, 2),
            num(f.revenue_usd, 0),
            num(f.cost_usd, 0),
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push_str("\n\n");

    let mut t = table(&[
        "kind",
        "productive GPU-h",
        "switch GPU-h",
        "tokens",
        "work (H100 GPU-h)",
        "work/GPU-h",
        "makespan (h)",
    ]);
    for (name, f) in &r.by_kind {
        let m = f.makespan_hours;
        t.add_row(vec![
            name.clone(),
            num(f.gpu_hours, 0),
            num(f.switch_gpu_hours, 0),
            big(f.tokens),
            num(f.work.h100_gpu_hours, 0),
            opt_num(f.work.per_gpu_hour, 3),
            match m.hours {
                Some(x) if m.censored => format!(">= {}", num(x, 1)),
                x => opt_num(x, 1),
            },
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push_str("\n\n");

    let mut t = table(&[
        "tenant",
        "contract",
        "reserved",
        "productive GPU-h",
        "switch GPU-h",
        "billed GPU-h",
        "shortfall GPU-h (longest h)",
        "tokens",
        "SLO",
        "revenue $",
    ]);
    for (name, f) in &r.by_tenant {
        t.add_row(vec![
            name.clone(),
            f.contract.clone(),
            num(f.reserved_gpus as f64, 0),
            num(f.gpu_hours, 0),
            num(f.tenant_switch_gpu_hours + f.workflow_switch_gpu_hours, 0),
            num(f.billed_gpu_hours, 0),
            format!(
                "{} ({})",
                num(f.guarantee_shortfall_gpu_hours, 0),
                num(f.longest_shortfall_hours, 2)
            ),
            big(f.tokens),
            f.slo_attainment.map_or("-".into(), pct),
            num(f.revenue_usd, 0),
        ]);
    }
    right(&mut t);
    out.push_str(&t.to_string());
    out.push('\n');

    if !r.by_service.is_empty() {
        let mut t = table(&[
            "service",
            "tenant",
            "SLO delay",
            "on time",
            "served",
            "dropped",
            "queued at end",
            "delay mean / p99 / max s",
            "replicas mean / max",
            "cold starts",
            "GPU-h",
        ]);
        for (name, f) in &r.by_service {
            let share = |x: f64| {
                pct(if f.demanded_tokens > 0.0 {
                    x / f.demanded_tokens
                } else {
                    0.0
                })
            };
            t.add_row(vec![
                name.clone(),
                f.tenant.clone(),
                match &f.slo_class {
                    Some(c) => format!("{} s ({c})", num(f.slo_delay_s, 2)),
                    None => format!("{} s", num(f.slo_delay_s, 2)),
                },
                f.slo_attainment.map_or("-".into(), pct),
                share(f.served_tokens),
                share(f.dropped_tokens),
                share(f.queued_tokens),
                format!(
                    "{} / {} / {}",
                    num(f.delay_s.mean, 2),
                    num(f.delay_s.p99, 2),
                    num(f.delay_s.max, 1)
                ),
                format!("{} / {}", num(f.replicas.mean, 1), f.replicas.max),
                num(f.cold_starts as f64, 0),
                num(f.gpu_hours, 0),
            ]);
        }
        right(&mut t);
        out.push('\n');
        out.push_str(&t.to_string());
        out.push('\n');
    }

    if !r.traces.is_empty() {
        let mut t = table(&[
            "trace",
            "reader",
            "rows",
            "used",
            "bad rows skipped",
            "left out / adjusted",
        ]);
        for u in &r.traces {
            let notes: Vec<String> = u
                .left_out
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .chain(u.adjusted.iter().map(|(k, n)| format!("{k}: {n} (used)")))
                .collect();
            t.add_row(vec![
                format!("{}\n{}", u.section, u.file),
                u.reader.clone(),
                num(u.rows as f64, 0),
                num(u.used as f64, 0),
                num(u.skipped_rows as f64, 0),
                notes.join("\n"),
            ]);
        }
        out.push('\n');
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_thousands() {
        assert_eq!(num(1234567.891, 2), "1,234,567.89");
        assert_eq!(num(-1234.0, 0), "-1,234");
        assert_eq!(num(999.0, 0), "999");
        assert_eq!(big(2.5e12), "2.50 T");
    }
}
