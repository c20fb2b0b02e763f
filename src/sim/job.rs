//! Jobs (training and batch): their token budget, progress and life-cycle times.

use crate::units::Time;
use crate::workload::WorkloadId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Rejected,
}

/// A job's record: 64 bytes, aligned to a cache line, so that reading or updating a job (a
/// likely cache miss among up to a million live ones at fleet scale) touches one line.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub struct Job {
    pub tokens_total: f64,
    /// Tokens done and safe (checkpointed for training; all produced for batch).
    pub tokens_done: f64,
    pub arrival: Time,
    /// When it first started (`NEVER` until then).
    started: Time,
    /// When it completed (`NEVER` until then).
    done: Time,
    /// Order of submission among all jobs (slots of finished jobs are reused, so the slot
    /// index is not unique over a run; this is).
    pub serial: u32,
    pub gang: u32,
    workload: u32,
    pub preemptions: u32,
    pub failures: u32,
    pub state: JobState,
}

const NEVER: Time = Time::MAX;

impl Job {
    /// A job just submitted.
    pub fn new(serial: u32, workload: WorkloadId, gang: u32, tokens: f64, arrival: Time) -> Self {
        Job {
            tokens_total: tokens,
            tokens_done: 0.0,
            arrival,
            started: NEVER,
            done: NEVER,
            serial,
            gang,
            workload: workload as u32,
            preemptions: 0,
            failures: 0,
            state: JobState::Queued,
        }
    }

    pub fn workload(&self) -> WorkloadId {
        self.workload as WorkloadId
    }

    /// When it first started, if it has.
    pub fn first_start(&self) -> Option<Time> {
        (self.started != NEVER).then_some(self.started)
    }

    /// Records a start; returns whether it was the first.
    pub fn start(&mut self, now: Time) -> bool {
        self.state = JobState::Running;
        let first = self.started == NEVER;
        if first {
            self.started = now;
        }
        first
    }

    /// When it completed, if it has.
    pub fn finished(&self) -> Option<Time> {
        (self.done != NEVER).then_some(self.done)
    }

    pub fn complete(&mut self, now: Time) {
        self.state = JobState::Completed;
        self.done = now;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_job_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<super::Job>(), 64);
        assert_eq!(std::mem::align_of::<super::Job>(), 64);
    }
}
