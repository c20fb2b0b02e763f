//! Which running training jobs would finish sooner on a faster GPU type that has room now,
//! once the move is paid for: the new allocation's restart and, conservatively, the type's
//! tenant switch. The time saved is the job's remaining run time (its allocation's end) times
//! one minus the ratio of the per-GPU rates; the move waits for the job's next checkpoint, so
//! no trained work is lost, and the engine asks [`super::Policy::place`] again then.

use super::View;
use crate::config::Scenario;
use crate::fleet::TypeId;
use crate::state::alloc::{Alloc, AllocId, Phase};
use crate::state::request::Target;
use crate::units::Time;
use crate::workload::Kind;

/// Whether moving running training allocation `a` to type `t` at `now` pays: its remaining
/// run at the current per-GPU rate, times one minus the ratio of the rates, exceeds `t`'s
/// restart plus its tenant switch. False for a type no faster, or one the workload cannot use.
pub fn pays(sc: &Scenario, a: &Alloc, t: TypeId, now: Time) -> bool {
    let w = &sc.workloads[a.workload];
    let (Some(from), Some(to)) = (w.rate(a.gpu_type), w.rate(t)) else {
        return false;
    };
    if t == a.gpu_type || to <= from {
        return false;
    }
    let gt = &sc.gpu_types[t];
    let left = crate::units::secs(a.phase_end.saturating_sub(now));
    left * (1.0 - from / to) > crate::units::secs(gt.training_restart + gt.tenant_switch)
}

/// Allocations of running training jobs worth moving now, in id order, to a type not drained
/// for a waiting gang ([`super::drain`]).
pub fn worth_moving(view: &View) -> Vec<AllocId> {
    let (sc, c) = (view.scenario, view.cluster);
    // A type drained for a waiting gang is no target: the move would take the idle nodes the
    // gang waits for.
    let drained = super::drain::drained(view);
    let mut out = Vec::new();
    for (id, a) in view.allocs.iter() {
        // Running, past its restart (a job just placed is not moved again at once).
        let running = a.phase == Phase::Running && a.phase_start <= view.now;
        if a.kind != Kind::Training || !running || a.phase_end == Time::MAX {
            continue;
        }
        if !matches!(a.target, Target::Job(_)) {
            continue;
        }
        let g = a.gpus.len() as u64;
        let worth = (0..sc.gpu_types.len()).any(|t| {
            !drained.contains(&t) && c.available(t, a.tenant) >= g && pays(sc, a, t, view.now)
        });
        if worth {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::US_PER_HOUR;

    #[test]
    fn a_move_pays_when_the_time_saved_exceeds_restart_and_switch() {
        let sc = crate::config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/fleet.toml"
        )))
        .unwrap();
        let w = (sc.workloads.iter())
            .position(|w| w.name == "anchor-research")
            .unwrap();
        let ty = |n: &str| sc.gpu_types.iter().position(|t| t.name == n).unwrap();
        let (h100, h200, gb200) = (ty("H100"), ty("H200"), ty("GB200"));
        let mut a = Alloc {
            target: Target::Job(0),
            tenant: sc.workloads[w].tenant,
            workload: w,
            kind: Kind::Training,
            workflow: 0,
            gpu_type: h100,
            gpus: Default::default(),
            nodes: Default::default(),
            switched: Default::default(),
            phase: Phase::Running,
            phase_start: 0,
            phase_end: 0,
            workflow_switch: 0,
            loading: false,
            preemptible: false,
            rate: 0.0,
            placed_at: 0,
        };
        // An hour left on H100 (650 tokens/s per GPU): GB200 (1,300) saves 30 min against a
        // 5-minute restart and a 25-minute tenant switch: not more, so no.
        a.phase_end = US_PER_HOUR;
        assert!(!pays(&sc, &a, gb200, 0));
        // Two hours left: it saves an hour.
        a.phase_end = 2 * US_PER_HOUR;
        assert!(pays(&sc, &a, gb200, 0));
        // H200 (720) saves 2 h x (1 - 650/720) = 11.7 min against 5 + 18 min: no.
        assert!(!pays(&sc, &a, h200, 0));
        // Never to a slower type or the same one.
        a.gpu_type = gb200;
        assert!(!pays(&sc, &a, h100, 0));
        assert!(!pays(&sc, &a, gb200, 0));
    }
}
