//! Jobs (training and batch): their token budget, progress and life-cycle times.

use crate::units::Time;
use crate::workload::{TenantId, WorkloadId};

use super::alloc::AllocId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Rejected,
}

#[derive(Clone, Debug)]
pub struct Job {
    /// Order of submission among all jobs (slots of finished jobs are reused, so the slot
    /// index is not unique over a run; this is).
    pub serial: u32,
    pub workload: WorkloadId,
    pub tenant: TenantId,
    pub gang: u32,
    pub tokens_total: f64,
    /// Tokens done and safe (checkpointed for training; all produced for batch).
    pub tokens_done: f64,
    pub arrival: Time,
    pub first_start: Option<Time>,
    pub finished: Option<Time>,
    pub state: JobState,
    pub alloc: Option<AllocId>,
    pub preemptions: u32,
    pub failures: u32,
}
