//! GPU-type preference from the throughput matrix (workload x GPU type), by comparative
//! advantage: a workload prefers the types where its speed, relative to its own best type,
//! is high compared with how every workload fares there. Fast GPUs that every workload
//! loves (a GB200) then go first to the work that gains most from them.

use crate::config::Scenario;
use crate::fleet::TypeId;

/// For each workload, its GPU types from most to least preferred (only types it can run on).
///
/// `r(w, t) = rate(w, t) / max_t rate(w, t)` is the workload's relative speed on `t`;
/// `p(t)` is the mean of `r(., t)` over the workloads that can run on `t`; the score is
/// `r(w, t) / p(t)`. Ties go to the faster type, then to config order.
pub fn comparative_advantage(sc: &Scenario) -> Vec<Vec<TypeId>> {
    let types = sc.gpu_types.len();
    let rel: Vec<Vec<Option<f64>>> = sc
        .workloads
        .iter()
        .map(|w| {
            let best = (0..types).filter_map(|t| w.rate(t)).fold(0.0, f64::max);
            (0..types).map(|t| w.rate(t).map(|r| r / best)).collect()
        })
        .collect();
    let popularity: Vec<f64> = (0..types)
        .map(|t| {
            let v: Vec<f64> = rel.iter().filter_map(|r| r[t]).collect();
            if v.is_empty() {
                1.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect();
    sc.workloads
        .iter()
        .enumerate()
        .map(|(w, wl)| {
            let mut ts: Vec<TypeId> = (0..types).filter(|&t| rel[w][t].is_some()).collect();
            ts.sort_by(|&a, &b| {
                let sa = rel[w][a].unwrap() / popularity[a];
                let sb = rel[w][b].unwrap() / popularity[b];
                sb.total_cmp(&sa)
                    .then(wl.rate(b).unwrap().total_cmp(&wl.rate(a).unwrap()))
                    .then(a.cmp(&b))
            });
            ts
        })
        .collect()
}

/// For each workload, its GPU types from fastest to slowest per GPU.
pub fn fastest_first(sc: &Scenario) -> Vec<Vec<TypeId>> {
    sc.workloads
        .iter()
        .map(|w| {
            let mut ts: Vec<TypeId> = (0..sc.gpu_types.len())
                .filter(|&t| w.rate(t).is_some())
                .collect();
            ts.sort_by(|&a, &b| {
                w.rate(b)
                    .unwrap()
                    .total_cmp(&w.rate(a).unwrap())
                    .then(a.cmp(&b))
            });
            ts
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_cedes_the_fast_type_to_work_that_gains_more() {
        let sc = crate::config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/fleet.toml"
        )))
        .unwrap();
        let ranks = comparative_advantage(&sc);
        let name = |w: &str| sc.workloads.iter().position(|x| x.name == w).unwrap();
        let ty = |t: &str| sc.type_id(t).unwrap();
        // Decode-heavy inference gains ~3.2x on GB200, pretraining ~2x: GB200 goes to inference.
        assert_eq!(ranks[name("copilot-chat")][0], ty("GB200"));
        assert_ne!(ranks[name("anchor-research")][0], ty("GB200"));
        // Every workload is fastest per GPU on GB200.
        assert!(fastest_first(&sc).iter().all(|r| r[0] == ty("GB200")));
    }
}
