//! The discrete-event simulation: a pure, deterministic core (no I/O, no clock) that takes a
//! scenario and a policy, processes events in integer time, and leaves a ledger to report.
//! `engine` holds the state and the event loop; each concern it dispatches to lives in a file
//! of its own: `queueing` (admission and arrivals), `pass` (the placement pass and
//! validation), `placement` (placement, switch phases and release), `autoscale` (services),
//! `failures` (failures and repair), `books` (booking into the ledger); the preemption and
//! quota rules are shared with the policies in `crate::state::rules`.

/// The read-only view a policy decides on (a macro, so it borrows only the fields it needs
/// while the policy itself is borrowed mutably).
macro_rules! view {
    ($e:expr) => {
        View {
            now: $e.now,
            scenario: &$e.sc,
            cluster: &$e.cluster,
            allocs: &$e.allocs,
            occupied: $e.cluster.occupied(),
            queued: &$e.queued_by_tenant,
            waiting: &$e.waiting_gangs,
        }
    };
}

pub mod audit;
mod autoscale;
mod books;
pub mod engine;
pub mod events;
mod failures;
pub mod fluid;
pub mod job;
mod pass;
mod placement;
pub mod queue;
mod queueing;
pub mod service;

pub use crate::state::{
    VictimSet, alloc, preemption_allowed, request, victims_allowed, within_quota,
};
pub use engine::{Engine, SimError};
