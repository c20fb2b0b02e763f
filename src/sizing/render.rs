//! Terminal tables for fleet sizing: the size each policy needs, the size one step below and
//! what it missed, and the dividend against the baseline.

use super::{Point, Sizing};
use crate::compare::{right, table};
use crate::report::num;

fn pct(x: f64, d: usize) -> String {
    format!("{} %", num(x * 100.0, d))
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".into(), f)
}

fn by_type(p: &Point) -> String {
    (p.gpus_by_type.iter())
        .map(|(t, n)| format!("{t} {}", num(*n as f64, 0)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render_sizing(s: &Sizing) -> String {
    let t = &s.targets;
    let mut out = format!(
        "fleet sizing of {}: the smallest --fleet-scale (steps of {}, from {} to {}) at which \
         every one of {} seed(s) meets:\n  every service's SLO attainment >= {}; every tenant's \
         training wait p99 <= {} h (jobs never started count with their wait so far); its \
         guarantee shortfall waiting for GPUs <= {} of its reserved GPU-hours\n  (the shortfall in \
         tenant switches of GPUs already placed is shown beside it: no fleet size removes it)\n",
        s.scenario,
        s.grid.step,
        s.smallest_allowed,
        s.grid.max,
        s.seeds.len(),
        pct(t.slo_attainment, 1),
        num(t.training_wait_p99_hours, 2),
        pct(t.shortfall_share, 2),
    );
    if s.backlog_jobs > 0 {
        out.push_str(&format!(
            "note: {} batch jobs wait in backlogs at time 0; work that fills every fleet size \
             leaves no GPU idle, so services and reclaims compete with it at any size and the \
             sizing measures the backlog as much as the demand (configs/fleet.toml has none)\n",
            num(s.backlog_jobs as f64, 0)
        ));
    }
    let mut tb = table(
        [
            "policy",
            "fleet scale",
            "GPUs",
            "by type",
            "capital M$/yr",
            "peak MW",
            "util",
            "margin",
            "worst SLO",
            "train wait p99 h",
            "shortfall wait / switch",
            "never started",
        ]
        .map(String::from)
        .to_vec(),
    );
    for r in &s.rows {
        let p = &r.at;
        let scale = if r.met {
            num(p.fleet_scale, 2)
        } else {
            format!("> {}", num(p.fleet_scale, 2))
        };
        tb.add_row(vec![
            r.policy.clone(),
            scale,
            num(p.gpus as f64, 0),
            by_type(p),
            num(p.capital_usd_per_year / 1e6, 1),
            num(p.peak_mw, 2),
            pct(p.gpu_utilization, 1),
            pct(p.gross_margin, 1),
            opt(p.worst_slo_attainment, |x| pct(x, 2)),
            opt(p.training_wait_p99_hours, |x| num(x, 2)),
            format!(
                "{} / {}",
                pct(p.worst_shortfall_share, 3),
                pct(p.worst_switch_shortfall_share, 3)
            ),
            num(p.never_started_jobs as f64, 0),
        ]);
    }
    right(&mut tb);
    out.push_str(&tb.to_string());
    out.push_str("\n\none step below, what was missed (the first of each run's misses):\n");
    let mut tb = table(
        ["policy", "fleet scale", "GPUs", "missed"]
            .map(String::from)
            .to_vec(),
    );
    for r in &s.rows {
        let (scale, gpus, what) = match (&r.below, r.met) {
            (Some(b), _) => (
                num(b.fleet_scale, 2),
                num(b.gpus as f64, 0),
                first_misses(b),
            ),
            (None, true) => (
                "-".into(),
                "-".into(),
                "none: the smallest fleet the reservations allow".into(),
            ),
            (None, false) => (
                num(r.at.fleet_scale, 2),
                num(r.at.gpus as f64, 0),
                format!(
                    "not met at the largest scale tried: {}",
                    first_misses(&r.at)
                ),
            ),
        };
        tb.add_row(vec![r.policy.clone(), scale, gpus, what]);
    }
    out.push_str(&tb.to_string());
    out.push('\n');
    match s.rows.iter().find(|r| r.policy == s.baseline) {
        Some(b) if b.met && !s.dividend.is_empty() => {
            out.push_str(&format!(
                "\nthe dividend: what each policy saves against `{}` ({} GPUs) at the same targets\n",
                s.baseline,
                num(b.at.gpus as f64, 0)
            ));
            let mut tb = table(
                [
                    "policy",
                    "GPUs saved",
                    "capital M$/yr saved",
                    "peak MW saved",
                ]
                .map(String::from)
                .to_vec(),
            );
            for d in &s.dividend {
                tb.add_row(vec![
                    d.policy.clone(),
                    format!(
                        "{} ({})",
                        num(d.gpus_saved as f64, 0),
                        pct(d.gpus_saved_share, 1)
                    ),
                    num(d.capital_usd_per_year_saved / 1e6, 1),
                    num(d.peak_mw_saved, 2),
                ]);
            }
            right(&mut tb);
            out.push_str(&tb.to_string());
            out.push('\n');
        }
        Some(b) if !b.met => out.push_str(&format!(
            "\nno dividend against `{}`: it does not meet the targets up to scale {}\n",
            s.baseline, s.grid.max
        )),
        None => out.push_str(&format!(
            "\nno dividend: the baseline `{}` was not sized (add it to --policies, or choose \
             another with --baseline)\n",
            s.baseline
        )),
        _ => {}
    }
    if s.rows.iter().any(|r| !r.met) {
        out.push_str(
            "a target missed at the largest scale tried may be one that no fleet size fixes \
             (cold starts within a short horizon, switch costs, a backlog): run the policy with \
             --fleet-scale 1 and with that scale to see whether the figure moves with the fleet\n",
        );
    }
    out
}

/// Each run's first miss, with its seed, joined.
fn first_misses(p: &Point) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last = None;
    for m in &p.missed {
        if last != Some(m.seed) {
            last = Some(m.seed);
            out.push(format!("{} (seed {})", m.what, m.seed));
        }
    }
    out.join("; ")
}

/// Sizings at several switch-cost scales: the GPUs each policy needs, and what the best
/// pooled policy saves against the baseline, by scale.
pub fn render_sizing_sweep(ss: &[Sizing]) -> String {
    let Some(first) = ss.first() else {
        return String::new();
    };
    let names: Vec<&str> = first.rows.iter().map(|r| r.policy.as_str()).collect();
    let t = &first.targets;
    let mut out = format!(
        "fleet sizing of {} by switch-cost scale: GPUs at the smallest --fleet-scale meeting, on \
         each of {} seed(s), every service's SLO >= {}, every tenant's training wait p99 <= {} \
         h and shortfall waiting for GPUs <= {} (\"> K\": not met up to K)\n",
        first.scenario,
        first.seeds.len(),
        pct(t.slo_attainment, 1),
        num(t.training_wait_p99_hours, 2),
        pct(t.shortfall_share, 2),
    );
    let mut header = vec!["switch cost x".to_string()];
    header.extend(names.iter().map(|n| n.to_string()));
    header.push(format!("best saving against {}", first.baseline));
    let mut tb = table(header);
    for s in ss {
        let mut row = vec![format!("{}", s.switch_cost_scale)];
        for r in &s.rows {
            row.push(if r.met {
                format!(
                    "{} ({}x)",
                    num(r.at.gpus as f64, 0),
                    num(r.at.fleet_scale, 2)
                )
            } else {
                format!("> {}x", num(r.at.fleet_scale, 2))
            });
        }
        let most = s.dividend.iter().max_by_key(|d| d.gpus_saved);
        row.push(match most {
            Some(top) => {
                let best: Vec<&str> = (s.dividend.iter())
                    .filter(|d| d.gpus_saved == top.gpus_saved)
                    .map(|d| d.policy.as_str())
                    .collect();
                format!(
                    "{} GPUs ({}): {}",
                    num(top.gpus_saved as f64, 0),
                    pct(top.gpus_saved_share, 1),
                    best.join(", ")
                )
            }
            None => "-".into(),
        });
        tb.add_row(row);
    }
    right(&mut tb);
    out.push_str(&tb.to_string());
    out.push('\n');
    out
}
