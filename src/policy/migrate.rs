//! Which running training jobs would finish sooner on a faster GPU type that has room now,
//! once the move is paid for: the new allocation's restart and, conservatively, the type's
//! tenant switch. The time saved is the job's remaining run time (its allocation's end) times
//! one minus the ratio of the per-GPU rates; the move waits for the job's next checkpoint, so
//! no trained work is lost, and the engine asks [`super::Policy::place`] again then.

use super::View;
use crate::state::alloc::{AllocId, Phase};
use crate::state::request::Target;
use crate::workload::Kind;

/// Allocations of running training jobs worth moving now, in id order.
pub fn worth_moving(view: &View) -> Vec<AllocId> {
    let (sc, c) = (view.scenario, view.cluster);
    let mut out = Vec::new();
    for (id, a) in view.allocs.iter() {
        if a.kind != Kind::Training || a.phase != Phase::Running || a.phase_end == u64::MAX {
            continue;
        }
        if !matches!(a.target, Target::Job(_)) {
            continue;
        }
        let w = &sc.workloads[a.workload];
        let Some(now_rate) = w.rate(a.gpu_type) else {
            continue;
        };
        let g = a.gpus.len() as u64;
        let left = crate::units::secs(a.phase_end.saturating_sub(view.now));
        let worth = (0..sc.gpu_types.len()).any(|t| {
            let Some(r) = w.rate(t) else {
                return false;
            };
            if t == a.gpu_type || r <= now_rate || c.available(t, a.tenant) < g {
                return false;
            }
            let gt = &sc.gpu_types[t];
            let cost = crate::units::secs(gt.training_restart + gt.tenant_switch);
            left * (1.0 - now_rate / r) > cost
        });
        if worth {
            out.push(id);
        }
    }
    out
}
