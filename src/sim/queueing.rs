//! Admission and arrivals: the queue (entering and leaving it, the request a queue entry
//! stands for), arrival streams, batch work held as a count, submission and job slots.
//! Touches the queue, the jobs, the arrival streams and the held backlogs.

use super::job::{Job, JobState};
use super::request::{JobId, QueueKey, Request, ServiceId, Target};
use crate::units::Time;
use crate::workload::Kind;

use super::engine::{Engine, Ev};

impl Engine {
    #[inline]
    pub(super) fn enqueue(&mut self, req: Request) -> QueueKey {
        self.enqueue_at(req, None)
    }

    /// Queues `req` with a reserved sequence number, or the next one.
    #[inline]
    pub(super) fn enqueue_at(&mut self, req: Request, seq: Option<u64>) -> QueueKey {
        let key = QueueKey {
            neg_priority: -(req.priority as i64),
            kind: req.kind,
            arrival: req.arrival,
            seq: seq.unwrap_or_else(|| {
                self.q_seq += 1;
                self.q_seq - 1
            }),
            workload: req.workload as u32,
            gang: req.gang,
        };
        if let Target::Replica(s) = req.target {
            self.services[s as usize].queued.insert(key);
        }
        self.queued_by_tenant[req.tenant] += 1;
        let want = self.wanted_gpus(&key);
        self.ledger.meters[req.tenant].waiting_change(self.now, want, true);
        if matches!(req.target, Target::Job(_)) {
            self.stats.queued_jobs += 1;
        }
        self.queue.insert(key, req.target);
        self.entered.push(key);
        self.stats.peak_queue = self.stats.peak_queue.max(self.queue.len());
        self.dirty = true;
        key
    }

    /// Takes a request out of the queue and its class.
    #[inline]
    pub(super) fn dequeue(&mut self, key: &QueueKey) -> Option<Target> {
        let target = self.queue.remove(key)?;
        let w = key.workload as usize;
        let tenant = self.sc.workloads[w].tenant;
        self.queued_by_tenant[tenant] -= 1;
        let want = self.wanted_gpus(key);
        self.ledger.meters[tenant].waiting_change(self.now, want, false);
        match target {
            Target::Job(_) => {
                self.stats.queued_jobs -= 1;
                self.refill(w);
            }
            Target::Replica(s) => {
                self.services[s as usize].queued.remove(key);
            }
        }
        Some(target)
    }

    /// GPUs a queued request needs on its smallest shape (a job its gang, a replica or batch
    /// job its workload's smallest replica), for the guarantee meter.
    #[inline]
    fn wanted_gpus(&self, key: &QueueKey) -> u64 {
        if key.gang > 0 {
            key.gang as u64
        } else {
            self.min_gpus[key.workload as usize] as u64
        }
    }

    /// The request a queue entry stands for, rebuilt from its job or service (nothing it is
    /// made of changes while it waits).
    #[inline]
    pub(super) fn queued_request(&self, key: &QueueKey, target: Target) -> Request {
        match target {
            Target::Job(j) => self.job_request(j),
            Target::Replica(s) => Request {
                arrival: key.arrival,
                ..self.replica_request(s)
            },
        }
    }

    #[inline]
    pub(super) fn job_request(&self, j: JobId) -> Request {
        let job = &self.jobs[j as usize];
        let w = &self.sc.workloads[job.workload()];
        Request {
            target: Target::Job(j),
            kind: w.kind(),
            workload: job.workload(),
            tenant: w.tenant,
            priority: w.priority,
            preemptible: w.preemptible,
            arrival: job.arrival,
            gang: job.gang,
            tokens_left: (job.tokens_total - job.tokens_done).max(0.0),
            serial: job.serial,
            smallest: self.shapes.smallest(&self.sc, job.workload(), job.gang),
        }
    }

    #[inline]
    pub(super) fn replica_request(&self, s: ServiceId) -> Request {
        let wi = self.services[s as usize].workload;
        let w = &self.sc.workloads[wi];
        Request {
            target: Target::Replica(s),
            kind: Kind::Inference,
            workload: wi,
            tenant: w.tenant,
            priority: w.priority,
            preemptible: false,
            arrival: self.now,
            gang: 0,
            tokens_left: 0.0,
            serial: 0,
            smallest: self.shapes.smallest(&self.sc, wi, 0),
        }
    }

    /// Takes every arrival of workload `w` due now (a backlog arrives as one event); a batch
    /// workload only tops up its held queue.
    pub(super) fn arrival(&mut self, w: usize) {
        if let Some(h) = &mut self.held[w] {
            if self.now == 0 && h.backlog_left > 0 {
                // The backlog's place in the queue: right here, as if all of it were queued.
                h.next_seq = self.q_seq;
                self.q_seq += h.backlog_left;
            }
            h.event_pending = false;
            self.refill(w);
            return;
        }
        while self.streams[w].as_ref().and_then(|s| s.peek_time()) == Some(self.now) {
            let Some(a) = self.take_arrival(w) else {
                break;
            };
            self.submit(w, a.gpus, a.tokens, a.at, None);
        }
        if let Some(t) = self.streams[w].as_ref().and_then(|s| s.peek_time()) {
            self.push(Ev::Arrival(w as u32), t);
        }
    }

    /// The next arrival of workload `w`'s stream, fingerprinted.
    #[inline]
    pub(super) fn take_arrival(
        &mut self,
        w: usize,
    ) -> Option<crate::workload::arrivals::JobArrival> {
        let a = self.streams[w].as_mut()?.pop()?;
        self.note_arrival(w, a.at, a.gpus, a.tokens);
        Some(a)
    }

    #[inline]
    pub(super) fn note_arrival(&mut self, w: usize, at: Time, gpus: u32, tokens: f64) {
        let (n, h) = &mut self.stats.arrivals[w];
        *n += 1;
        for x in [at, gpus as u64, tokens.to_bits()] {
            // FNV-1a over the fields: any change in any arrival changes the fingerprint.
            *h = (*h ^ x).wrapping_mul(0x100_0000_01b3);
        }
    }

    /// Keeps the head of a batch workload's queue materialized: while a held job (the backlog,
    /// all arrived at 0, then stream arrivals due by now) would sort before the queued ones
    /// (a requeued victim may be later than the backlog), or none is queued, queue it; when
    /// none is due, an arrival event at the next one.
    #[inline]
    pub(super) fn refill(&mut self, w: usize) {
        loop {
            let Some(h) = self.held[w].as_ref() else {
                return;
            };
            let head = self.queue.head_of((w, 0));
            let next_due = self.streams[w].as_ref().and_then(|s| s.peek_time());
            // Held work sorts before the head if it arrived earlier (stream jobs get a fresh,
            // larger sequence number, so on equal arrival they sort after).
            let before_head =
                |arrival: Time, seq: u64| head.is_none_or(|k| (arrival, seq) < (k.arrival, k.seq));
            let take_backlog = h.backlog_left > 0 && before_head(0, h.next_seq);
            let take_stream = h.backlog_left == 0
                && next_due.is_some_and(|t| t <= self.now && before_head(t, u64::MAX));
            if !take_backlog && !take_stream {
                if head.is_none()
                    && h.backlog_left == 0
                    && !h.event_pending
                    && let Some(t) = next_due.filter(|&t| t > self.now)
                {
                    self.held[w].as_mut().expect("held").event_pending = true;
                    self.push(Ev::Arrival(w as u32), t);
                }
                return;
            }
            let h = self.held[w].as_mut().expect("held");
            if take_backlog {
                h.backlog_left -= 1;
                if h.backlog_left == 0 {
                    let tenant = self.sc.workloads[w].tenant;
                    self.ledger.meters[tenant].backlog_change(self.now, false);
                }
                let h = self.held[w].as_mut().expect("held");
                let (seq, tokens) = (h.next_seq, h.tokens);
                h.next_seq += 1;
                self.note_arrival(w, 0, 0, tokens);
                self.submit(w, 0, tokens, 0, Some(seq));
            } else {
                let a = self.take_arrival(w).expect("peeked");
                self.submit(w, a.gpus, a.tokens, a.at, None);
            }
        }
    }

    /// Counts the batch jobs still held at the horizon as queued since their arrival.
    pub(super) fn close_held(&mut self) {
        for w in 0..self.held.len() {
            let Some(h) = self.held[w].as_mut() else {
                continue;
            };
            let backlog = std::mem::take(&mut h.backlog_left);
            let tokens = h.tokens;
            if backlog > 0 {
                let tenant = self.sc.workloads[w].tenant;
                self.ledger.meters[tenant].backlog_change(self.now, false);
            }
            for _ in 0..backlog {
                self.note_arrival(w, 0, 0, tokens);
            }
            self.stats.held_jobs += backlog;
            self.stats.queued_jobs_area += backlog as u128 * self.now as u128;
            let kind = self.sc.workloads[w].kind() as usize;
            for _ in 0..backlog {
                self.stats.waits[kind].push_censored(self.now);
                self.stats.completions[kind].push_censored(self.now);
            }
            while let Some(a) = self.take_arrival(w) {
                self.stats.held_jobs += 1;
                let waited = self.now.saturating_sub(a.at);
                self.stats.queued_jobs_area += waited as u128;
                self.stats.waits[kind].push_censored(waited);
                self.stats.completions[kind].push_censored(waited);
            }
        }
    }

    /// Queues a job that arrived at `arrival` (now, or earlier for a held batch job, whose
    /// waiting so far is added to the queue-time integral).
    #[inline]
    pub(super) fn submit(
        &mut self,
        w: usize,
        gang: u32,
        tokens: f64,
        arrival: Time,
        seq: Option<u64>,
    ) {
        self.stats.queued_jobs_area += self.now.saturating_sub(arrival) as u128;
        let job = Job::new(self.stats.submitted_jobs as u32, w, gang, tokens, arrival);
        self.stats.submitted_jobs += 1;
        let id = match self.free_jobs.pop() {
            Some(id) => {
                self.jobs[id as usize] = job;
                id
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as JobId
            }
        };
        let req = self.job_request(id);
        let feasible = (0..self.sc.gpu_types.len()).any(|t| req.gpus_on(&self.sc, t).is_some());
        if feasible {
            self.enqueue_at(req, seq);
        } else {
            self.jobs[id as usize].state = JobState::Rejected;
            self.stats.rejected_jobs += 1;
            self.retire_job(id);
        }
    }

    /// Frees the slot of a job that is done with (completed or rejected) for the next one,
    /// unless the engine keeps every job's history.
    #[inline]
    pub(super) fn retire_job(&mut self, id: JobId) {
        if !self.job_history {
            self.free_jobs.push(id);
        }
    }
}
