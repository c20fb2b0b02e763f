//! Fleet sizing: for each policy, the smallest fleet scale (every pool times K, demand as it
//! is) whose runs meet stated targets on every seed, found by bisection on a grid of scales,
//! with the evaluated point one step below that misses them; and what each policy saves
//! against a baseline at the same targets.

mod render;

pub use render::{render_sizing, render_sizing_sweep};

use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::RunError;
use crate::config::Scenario;
use crate::report::Report;

/// What a fleet must deliver, on every seed, to count as large enough.
#[derive(Clone, Debug, Serialize)]
pub struct Targets {
    /// Every service's SLO attainment (tokens served within `slo_delay` / demanded) at
    /// least this share.
    pub slo_attainment: f64,
    /// Every tenant's 99th percentile of its training jobs' waits at most this many hours; a
    /// job that never started counts with its wait so far, so a fleet cannot pass by never
    /// starting one.
    pub training_wait_p99_hours: f64,
    /// Every tenant's guarantee shortfall while waiting for GPUs to be assigned at all at
    /// most this share of its reserved GPU-hours. The shortfall of GPUs already placed and
    /// in their tenant switch is reported beside it and not a target: it is the scrub a
    /// pooled fleet pays on each GPU it hands from one tenant to another, which no number
    /// of spare GPUs removes.
    pub shortfall_share: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            slo_attainment: 0.99,
            training_wait_p99_hours: 2.0,
            shortfall_share: 0.001,
        }
    }
}

/// The scales searched: multiples of `step` up to `max`, from the smallest the tenants'
/// reservations allow.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Grid {
    pub step: f64,
    pub max: f64,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            step: 0.05,
            max: 4.0,
        }
    }
}

/// One evaluated fleet size: the fleet, whether every seed's run met the targets, why not,
/// and the run figures (means over seeds, or the worst seed where a target reads it).
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub fleet_scale: f64,
    pub gpus: u64,
    pub gpus_by_type: BTreeMap<String, u64>,
    /// Capital part of cost over the simulated horizon (depreciation and facility: the
    /// types' `capital_usd_per_gpu_hour` x GPUs x hours; it does not depend on use).
    pub capital_usd: f64,
    /// The same at a year of 8,760 hours.
    pub capital_usd_per_year: f64,
    /// Highest 15-minute mean power of any seed (MW).
    pub peak_mw: f64,
    pub met: bool,
    /// Each target a seed's run missed, with the figure.
    pub missed: Vec<Miss>,
    pub gpu_utilization: f64,
    pub billed_utilization: f64,
    pub gross_margin: f64,
    pub work_per_gpu_hour: f64,
    /// Lowest SLO attainment of any service on any seed (`None` without services).
    pub worst_slo_attainment: Option<f64>,
    /// Highest training wait p99 of any tenant on any seed (hours; `None` without training).
    pub training_wait_p99_hours: Option<f64>,
    /// Highest guarantee shortfall waiting for GPUs of any reserving tenant on any seed, as a
    /// share of its reserved GPU-hours.
    pub worst_shortfall_share: f64,
    /// Highest shortfall in tenant switches of GPUs already placed, the same way.
    pub worst_switch_shortfall_share: f64,
    /// Most jobs (batch and training) never started by the horizon on any seed: work the
    /// targets do not cover, shown so that a fleet that passes by starving it is seen.
    pub never_started_jobs: u64,
}

/// A target one run missed.
#[derive(Clone, Debug, Serialize)]
pub struct Miss {
    pub seed: u64,
    /// What was missed, with the figure and the target.
    pub what: String,
}

/// A policy's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub policy: String,
    /// The scale found (`None`: the targets were not met up to the grid's maximum).
    pub fleet_scale: Option<f64>,
    pub gpus: Option<u64>,
    pub gpus_by_type: Option<BTreeMap<String, u64>>,
    pub capital_usd: Option<f64>,
    pub peak_mw: Option<f64>,
    pub met: bool,
    /// The smallest fleet the reservations allow already meets the targets: there is no
    /// step below to show.
    pub at_smallest_allowed: bool,
    /// The size found (or, when never met, the largest size tried).
    pub at: Point,
    /// The size one grid step below the one found, which misses a target.
    pub below: Option<Point>,
    /// Every size evaluated, in the order of the search.
    pub evaluated: Vec<(f64, bool)>,
}

/// What a policy saves against the baseline, both at the targets.
#[derive(Clone, Debug, Serialize)]
pub struct Dividend {
    pub policy: String,
    pub gpus_saved: i64,
    pub gpus_saved_share: f64,
    pub capital_usd_per_year_saved: f64,
    pub peak_mw_saved: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sizing {
    pub scenario: String,
    /// Factor on every switch cost (1 as configured; set by `--size --sweep`).
    pub switch_cost_scale: f64,
    pub targets: Targets,
    pub seeds: Vec<u64>,
    pub grid: Grid,
    /// The smallest scale the reservations allow on the grid.
    pub smallest_allowed: f64,
    /// Batch jobs waiting in backlogs at time 0: work that fills any fleet, so a fleet with
    /// backlogs is never idle and sizing it measures the backlog as much as the demand.
    pub backlog_jobs: u64,
    pub baseline: String,
    pub rows: Vec<Row>,
    /// Against the baseline, for each policy that met the targets, when the baseline did.
    pub dividend: Vec<Dividend>,
}

#[derive(Debug, thiserror::Error)]
pub enum SizeError {
    #[error("{0}")]
    Grid(String),
    #[error("the fleet at scale {scale}: {source}")]
    Run {
        scale: f64,
        #[source]
        source: RunError,
    },
}

/// The grid's scale at index `i` (a multiple of the step, rounded to 12 decimals so that
/// 0.05 x 3 reads 0.15).
fn scale_at(grid: &Grid, i: u64) -> f64 {
    ((i as f64 * grid.step) * 1e12).round() / 1e12
}

/// The scenario with its fleet times `k`, or `None` where the reservations do not fit.
fn scaled(sc: &Scenario, k: f64) -> Option<Scenario> {
    let mut s = sc.clone();
    s.scale_fleet(k).ok()?;
    Some(s)
}

/// The targets a run misses, each said with its figure.
pub fn misses(rep: &Report, t: &Targets) -> Vec<Miss> {
    let mut out = Vec::new();
    for (name, s) in &rep.by_service {
        if let Some(a) = s.slo_attainment
            && a < t.slo_attainment
        {
            out.push(format!(
                "service {name}: SLO attainment {:.2} % < {:.2} %",
                a * 100.0,
                t.slo_attainment * 100.0,
            ));
        }
    }
    for (name, ten) in &rep.by_tenant {
        if let Some(p99) = ten.training_wait_hours.p99
            && p99 > t.training_wait_p99_hours
        {
            out.push(format!(
                "tenant {name}: training wait p99 {p99:.2} h > {:.2} h",
                t.training_wait_p99_hours
            ));
        }
    }
    for (name, share, _) in shortfall_shares(rep) {
        if share > t.shortfall_share {
            out.push(format!(
                "tenant {name}: guarantee shortfall waiting for GPUs {:.3} % of its reserved GPU-hours > {:.3} %",
                share * 100.0,
                t.shortfall_share * 100.0,
            ));
        }
    }
    out.into_iter()
        .map(|what| Miss {
            seed: rep.seed,
            what,
        })
        .collect()
}

/// The highest of the tenants' training wait p99s.
fn training_p99(rep: &Report) -> Option<f64> {
    fold_opt(
        rep.by_tenant.values().map(|t| t.training_wait_hours.p99),
        f64::max,
    )
}

/// Each reserving tenant's shortfall waiting for GPUs, and in tenant switches, over its
/// reserved GPU-hours.
fn shortfall_shares(rep: &Report) -> impl Iterator<Item = (&String, f64, f64)> {
    rep.by_tenant
        .iter()
        .filter(|(_, t)| t.reserved_gpus > 0)
        .map(|(n, t)| {
            let reserved = t.reserved_gpus as f64 * rep.horizon_hours;
            let switch = t.shortfall_in_switch_gpu_hours;
            let waiting = (t.guarantee_shortfall_gpu_hours - switch).max(0.0);
            (n, waiting / reserved, switch / reserved)
        })
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

fn fold_opt(xs: impl Iterator<Item = Option<f64>>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    xs.flatten().reduce(pick)
}

/// One size's point from its seeds' reports (at least one).
fn point(k: f64, reps: &[Report], t: &Targets) -> Point {
    let first = &reps[0];
    let gpus_by_type: BTreeMap<String, u64> = (first.by_gpu_type.iter())
        .map(|(n, f)| (n.clone(), f.gpus))
        .collect();
    let capital = first.economics.cost_by_part.capital;
    let missed: Vec<Miss> = reps.iter().flat_map(|r| misses(r, t)).collect();
    Point {
        fleet_scale: k,
        gpus: first.gpus,
        gpus_by_type,
        capital_usd: capital,
        capital_usd_per_year: capital / first.horizon_hours * 8760.0,
        peak_mw: reps.iter().map(|r| r.energy.peak_mw).fold(0.0, f64::max),
        met: missed.is_empty(),
        missed,
        gpu_utilization: mean(reps.iter().map(|r| r.gpu_utilization)),
        billed_utilization: mean(reps.iter().map(|r| r.economics.billed_utilization)),
        gross_margin: mean(reps.iter().map(|r| r.economics.gross_margin)),
        work_per_gpu_hour: mean(reps.iter().filter_map(|r| r.work.per_gpu_hour)),
        worst_slo_attainment: fold_opt(
            reps.iter()
                .flat_map(|r| r.by_service.values().map(|s| s.slo_attainment)),
            f64::min,
        ),
        training_wait_p99_hours: fold_opt(reps.iter().map(training_p99), f64::max),
        worst_shortfall_share: reps
            .iter()
            .flat_map(|r| shortfall_shares(r).map(|(_, s, _)| s))
            .fold(0.0, f64::max),
        worst_switch_shortfall_share: reps
            .iter()
            .flat_map(|r| shortfall_shares(r).map(|(_, _, s)| s))
            .fold(0.0, f64::max),
        never_started_jobs: reps
            .iter()
            .map(|r| r.jobs.never_started.values().sum::<u64>())
            .max()
            .unwrap_or(0),
    }
}

/// A policy's search: the bracket and what has been evaluated.
struct Search {
    /// Largest index known to miss (`None`: nothing below `hi` has been seen to miss).
    lo: Option<u64>,
    /// Smallest index known to meet.
    hi: Option<u64>,
    /// The next index to try while galloping up (before any size has met).
    next_up: Option<u64>,
    points: BTreeMap<u64, Point>,
    order: Vec<(f64, bool)>,
}

impl Search {
    /// The index to evaluate next, or `None` when the search is over.
    fn next(&self, min: u64) -> Option<u64> {
        let Some(hi) = self.hi else {
            return self.next_up;
        };
        if hi == min {
            return None;
        }
        match self.lo {
            // Nothing below has missed yet: try the smallest allowed size first, so that a
            // fleet which meets the targets there is reported as such.
            None => Some(min),
            Some(lo) => (hi - lo > 1).then_some(lo + (hi - lo) / 2),
        }
    }

    fn record(&mut self, i: u64, p: Point, max: u64) {
        self.order.push((p.fleet_scale, p.met));
        if p.met {
            if self.hi.is_none_or(|h| i < h) {
                self.hi = Some(i);
            }
        } else {
            if self.lo.is_none_or(|l| i > l) {
                self.lo = Some(i);
            }
            if self.hi.is_none() {
                self.next_up = (i < max).then(|| (i * 2).clamp(i + 1, max));
            }
        }
        self.points.insert(i, p);
    }
}

/// Sizes the fleet of `sc` for each policy: the smallest grid scale at which every seed's
/// run meets `targets`. Searches by galloping up from scale 1 (doubling) until a size meets
/// them, then by bisection down to the smallest allowed scale; so the size found meets the
/// targets and the grid step below it, also evaluated, misses them (unless the size found is
/// the smallest the reservations allow). The search assumes that a larger fleet does not
/// miss a target a smaller one met, which the evaluated points let the reader check.
pub fn size(
    sc: &Scenario,
    policies: &[String],
    seeds: &[u64],
    targets: &Targets,
    grid: &Grid,
    baseline: &str,
) -> Result<Sizing, SizeError> {
    size_with(sc, policies, seeds, targets, grid, baseline, &|| {})
}

/// [`size`], calling `done` as each run finishes (for progress display).
#[allow(clippy::too_many_arguments)]
pub fn size_with(
    sc: &Scenario,
    policies: &[String],
    seeds: &[u64],
    targets: &Targets,
    grid: &Grid,
    baseline: &str,
    done: &(dyn Fn() + Sync),
) -> Result<Sizing, SizeError> {
    if !(grid.step.is_finite() && grid.step > 0.0 && grid.max.is_finite() && grid.max >= grid.step)
    {
        return Err(SizeError::Grid(format!(
            "the step ({}) must be > 0 and at most the largest scale ({})",
            grid.step, grid.max
        )));
    }
    let max = (grid.max / grid.step + 1e-9).floor() as u64;
    let min = (1..=max)
        .find(|&i| scaled(sc, scale_at(grid, i)).is_some())
        .ok_or_else(|| {
            let first = (max + 1..=max.saturating_mul(100).max(max + 10_000))
                .find(|&i| scaled(sc, scale_at(grid, i)).is_some());
            SizeError::Grid(match first {
                Some(i) => format!(
                    "no scale up to {} holds the tenants' reservations; the smallest on this grid that does is {} (raise the largest scale of --size-grid)",
                    grid.max,
                    scale_at(grid, i)
                ),
                None => format!("no scale up to {} holds the tenants' reservations", grid.max),
            })
        })?;
    let one = ((1.0 / grid.step).round() as u64).clamp(min, max);
    let mut searches: Vec<Search> = policies
        .iter()
        .map(|_| Search {
            lo: None,
            hi: None,
            next_up: Some(one),
            points: BTreeMap::new(),
            order: Vec::new(),
        })
        .collect();
    loop {
        let round: Vec<(usize, u64)> = (searches.iter().enumerate())
            .filter_map(|(p, s)| s.next(min).map(|i| (p, i)))
            .collect();
        if round.is_empty() {
            break;
        }
        let runs: Vec<(usize, u64, u64)> = round
            .iter()
            .flat_map(|&(p, i)| seeds.iter().map(move |&s| (p, i, s)))
            .collect();
        let reports: Vec<Report> = runs
            .par_iter()
            .map(|&(p, i, seed)| {
                let k = scale_at(grid, i);
                let mut run =
                    scaled(sc, k).expect("every index from `min` up holds the reservations");
                run.policy = policies[p].clone();
                run.seed = seed;
                let r =
                    crate::run_scenario(&run).map_err(|source| SizeError::Run { scale: k, source });
                done();
                r
            })
            .collect::<Result<_, _>>()?;
        for (n, &(p, i)) in round.iter().enumerate() {
            let reps = &reports[n * seeds.len()..(n + 1) * seeds.len()];
            let pt = point(scale_at(grid, i), reps, targets);
            searches[p].record(i, pt, max);
        }
    }
    let rows: Vec<Row> = (policies.iter().zip(searches))
        .map(|(name, s)| {
            let found = s.hi;
            let at_i = found.unwrap_or_else(|| *s.points.keys().next_back().expect("evaluated"));
            let at = s.points[&at_i].clone();
            let below = found.and_then(|i| s.points.get(&(i.wrapping_sub(1))).cloned());
            let met = found.is_some();
            Row {
                policy: name.clone(),
                fleet_scale: met.then_some(at.fleet_scale),
                gpus: met.then_some(at.gpus),
                gpus_by_type: met.then(|| at.gpus_by_type.clone()),
                capital_usd: met.then_some(at.capital_usd),
                peak_mw: met.then_some(at.peak_mw),
                met,
                at_smallest_allowed: found == Some(min),
                at,
                below,
                evaluated: s.order,
            }
        })
        .collect();
    let base = rows.iter().find(|r| r.policy == baseline && r.met);
    let dividend = match base {
        None => Vec::new(),
        Some(b) => (rows.iter())
            .filter(|r| r.met && r.policy != baseline)
            .map(|r| {
                let saved = b.at.gpus as i64 - r.at.gpus as i64;
                Dividend {
                    policy: r.policy.clone(),
                    gpus_saved: saved,
                    gpus_saved_share: saved as f64 / b.at.gpus as f64,
                    capital_usd_per_year_saved: b.at.capital_usd_per_year
                        - r.at.capital_usd_per_year,
                    peak_mw_saved: b.at.peak_mw - r.at.peak_mw,
                }
            })
            .collect(),
    };
    Ok(Sizing {
        scenario: sc.name.clone(),
        switch_cost_scale: sc.switch_cost_scale,
        targets: targets.clone(),
        seeds: seeds.to_vec(),
        grid: *grid,
        smallest_allowed: scale_at(grid, min),
        backlog_jobs: (sc.workloads.iter())
            .map(|w| match &w.spec {
                crate::workload::Spec::Batch(b) => b.backlog_jobs as u64,
                _ => 0,
            })
            .sum(),
        baseline: baseline.to_string(),
        rows,
        dividend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> Search {
        Search {
            lo: None,
            hi: None,
            next_up: Some(20),
            points: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    fn pt(k: f64, met: bool) -> Point {
        Point {
            fleet_scale: k,
            gpus: 0,
            gpus_by_type: BTreeMap::new(),
            capital_usd: 0.0,
            capital_usd_per_year: 0.0,
            peak_mw: 0.0,
            met,
            missed: Vec::new(),
            gpu_utilization: 0.0,
            billed_utilization: 0.0,
            gross_margin: 0.0,
            work_per_gpu_hour: 0.0,
            worst_slo_attainment: None,
            training_wait_p99_hours: None,
            worst_shortfall_share: 0.0,
            worst_switch_shortfall_share: 0.0,
            never_started_jobs: 0,
        }
    }

    /// Drives a search against a threshold: sizes from `need` up meet the targets.
    fn drive(min: u64, max: u64, need: u64) -> (Option<u64>, Option<u64>, usize) {
        let mut s = search();
        s.next_up = Some(20u64.clamp(min, max));
        let mut n = 0;
        while let Some(i) = s.next(min) {
            assert!((min..=max).contains(&i), "index {i} outside {min}..={max}");
            assert!(!s.points.contains_key(&i), "index {i} evaluated twice");
            s.record(i, pt(i as f64, i >= need), max);
            n += 1;
        }
        (s.hi, s.lo, n)
    }

    #[test]
    fn the_search_finds_the_threshold_and_the_miss_one_step_below() {
        for (min, max, need) in [
            (17, 80, 23),
            (17, 80, 17),
            (17, 80, 18),
            (17, 80, 80),
            (17, 80, 61),
            (1, 80, 5),
            (17, 80, 19),
        ] {
            let (hi, lo, n) = drive(min, max, need);
            assert_eq!(hi, Some(need), "min {min} max {max} need {need}");
            if need == min {
                assert_eq!(lo, None);
            } else {
                assert_eq!(lo, Some(need - 1), "min {min} max {max} need {need}");
            }
            assert!(n <= 16, "{n} evaluations for need {need}");
        }
    }

    #[test]
    fn a_threshold_beyond_the_grid_is_not_met() {
        let (hi, lo, _) = drive(17, 80, 81);
        assert_eq!(hi, None);
        assert_eq!(lo, Some(80));
    }

    #[test]
    fn grid_scales_read_as_decimals() {
        let g = Grid {
            step: 0.05,
            max: 4.0,
        };
        assert_eq!(scale_at(&g, 3), 0.15);
        assert_eq!(scale_at(&g, 21), 1.05);
    }
}
