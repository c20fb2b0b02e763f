//! The discrete-event simulation: a pure, deterministic core (no I/O, no clock) that takes a
//! scenario and a policy, processes events in integer time, and leaves a ledger to report.

pub mod alloc;
pub mod audit;
pub mod engine;
pub mod events;
pub mod job;
pub mod queue;
pub mod request;
pub mod service;

pub use engine::{Engine, SimError, VictimSet, preemption_allowed, victims_allowed, within_quota};
