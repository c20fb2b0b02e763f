//! The engine's state and its event loop: what it holds, the narrow API drivers use (new,
//! run, run_until, the ledger and counters), and the dispatch of each event to the file that
//! owns its concern (see `sim`'s module doc).

use rand_chacha::ChaCha8Rng;

use super::alloc::{AllocId, Allocs};
use super::events::EventQueue;
use super::job::Job;
use super::queue::{ClassHeads, Queue};
use super::request::{JobId, QueueKey, Request, ServiceId, Shapes, Target};
use super::service::Service;
use crate::config::Scenario;
use crate::fleet::{Cluster, NodeId};
use crate::metrics::{Ledger, Samples};
use crate::policy::{Policy, View};
use crate::units::{Time, US_PER_HOUR, secs};
use crate::workload::Spec;
use crate::workload::arrivals::{ArrivalStream, STREAM_FAILURES, rng_for};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("policy `{policy}` made an invalid decision at t={at_s:.3}s: {reason}")]
    InvalidDecision {
        policy: String,
        at_s: f64,
        reason: String,
    },
    #[error("audit failed at t={at_s:.3}s after event {event}: {reason}")]
    Audit {
        at_s: f64,
        event: u64,
        reason: String,
    },
}

/// Whether an event still matters: an allocation's event is stale once that allocation was
/// released (its slot's generation moved on), a failure once the fleet's failure rate changed
/// (`failure_gen`).
pub(super) fn is_live(allocs: &Allocs, failure_gen: u32, e: &Ev) -> bool {
    match *e {
        Ev::Alloc(id, generation) | Ev::Migrate(id, generation) => {
            allocs.is_current(id, generation)
        }
        Ev::Failure(generation) => generation == failure_gen,
        _ => true,
    }
}

/// [`is_live`], asking the CPU to start loading the record of each live allocation event: a
/// bucket of events is checked when it comes up, some minutes of simulated time before they
/// run, and the loads then overlap instead of each waiting when its event runs.
fn is_live_loading(allocs: &Allocs, failure_gen: u32, e: &Ev) -> bool {
    let live = is_live(allocs, failure_gen, e);
    if live && let Ev::Alloc(id, _) | Ev::Migrate(id, _) = *e {
        allocs.prefetch(id);
    }
    live
}

/// How many events ahead in a bucket's sorted list the engine asks the CPU to load an
/// allocation's record: far enough for the load to finish before its event runs.
const LOOK_AHEAD: usize = 8;

/// Placement passes at one instant before the engine moves on to the next event.
pub(super) const MAX_PASSES_PER_INSTANT: usize = 64;
/// Waiting gangs a placement pass shows the policy: the earliest in queue order matter most,
/// and a bound keeps each offer's cost independent of the queue's length.
pub(super) const MAX_WAITING_GANGS: usize = 4;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ev {
    Horizon,
    Alloc(AllocId, u32),
    Arrival(u32),
    Tick,
    /// A training job's checkpoint at which it may move to a faster type.
    Migrate(AllocId, u32),
    Failure(u32),
    Repair(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Completed,
    Preempted,
    ScaledDown,
    Failed,
    /// Moved to another GPU type at a checkpoint; the job is placed again at once.
    Migrated,
}

/// Counters that are not GPU time or tokens.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: u64,
    /// Time from arrival to first start, per job, by `Kind as usize`; a job that never
    /// started counts, censored, with its wait up to the horizon.
    pub waits: [Samples; 3],
    /// Training jobs' waits again, by tenant (the same values as `waits[Training]`).
    pub training_waits: Vec<Samples>,
    /// Time from arrival to completion, per job, by `Kind as usize`; a job not done by the
    /// horizon counts, censored, with its time up to then.
    pub completions: [Samples; 3],
    /// When the last job of each kind completed, by `Kind as usize`.
    pub last_completion: [Option<Time>; 3],
    pub preemptions: u64,
    /// Training jobs moved to a faster type at a checkpoint.
    pub migrations: u64,
    pub failures: u64,
    pub submitted_jobs: u64,
    pub completed_jobs: u64,
    pub rejected_jobs: u64,
    pub jobs_interrupted: u64,
    pub replicas_started: u64,
    pub replicas_stopped: u64,
    pub peak_queue: usize,
    pub peak_events: usize,
    /// Tokens booked when the audit last ran (the audit checks they never decrease).
    pub audit_tokens: f64,
    /// Integral over time of queued jobs (job-µs), for time averages.
    pub queued_jobs_area: u128,
    /// Integral over time of running jobs (job-µs).
    pub running_jobs_area: u128,
    /// Jobs queued and running now.
    pub queued_jobs: u64,
    pub running_jobs: u64,
    /// Batch jobs that had arrived by the horizon but were still held as a count (never
    /// materialized, so queued throughout).
    pub held_jobs: u64,
    /// Per workload: arrivals taken from its stream (in stream order) and a fingerprint of
    /// their times, sizes and tokens, so tests can check every policy saw the same demand.
    pub arrivals: Vec<(u64, u64)>,
}

/// A batch workload's queue beyond its head: the backlog as a count, later arrivals left in
/// the lazy stream. Only one job of the class is materialized at a time, so a backlog of
/// millions costs no memory and arrivals behind a waiting job cost no event.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) backlog_left: u64,
    /// Queue sequence numbers reserved for the backlog, so it keeps the order it would have
    /// had if every job had been queued at time 0.
    pub(super) next_seq: u64,
    pub(super) tokens: f64,
    pub(super) event_pending: bool,
}

pub struct Engine {
    pub(crate) sc: Scenario,
    pub(super) policy: Box<dyn Policy>,
    pub(crate) now: Time,
    pub(crate) cluster: Cluster,
    pub(crate) allocs: Allocs,
    pub(crate) jobs: Vec<Job>,
    /// Slots of finished jobs, for reuse.
    pub(super) free_jobs: Vec<JobId>,
    pub(super) job_history: bool,
    pub(crate) services: Vec<Service>,
    pub(crate) queue: Queue,
    /// Queued requests per tenant.
    pub(crate) queued_by_tenant: Vec<u64>,
    /// Keys enqueued since the current placement pass started (requeued victims, replacement
    /// replicas), so the pass can offer them in priority order.
    pub(super) entered: Vec<QueueKey>,
    /// Class heads of the placement pass in progress (kept to reuse its memory).
    pub(super) heads: ClassHeads,
    /// Multi-node training gangs that the placement pass in progress (or, between passes, the
    /// last one) could not place, in queue order, at most [`MAX_WAITING_GANGS`] (see
    /// [`View::waiting`]).
    pub(super) waiting_gangs: Vec<Request>,
    /// A node's free GPUs, each keyed by its order of preference, while a placement picks
    /// among them (kept to reuse its memory).
    pub(super) scratch: Vec<u64>,
    /// Pending events by (time, push order). Each allocation has at most one pending event and
    /// stale ones are recognised by their generation, so nothing is looked up or re-prioritised.
    pub(super) events: EventQueue<Ev>,
    pub(super) ev_seq: u64,
    pub(super) q_seq: u64,
    pub(super) streams: Vec<Option<ArrivalStream>>,
    pub(super) held: Vec<Option<Held>>,
    pub(super) failure_rng: ChaCha8Rng,
    /// Generation of the pending failure event (see [`is_live`]).
    pub(super) failure_gen: u32,
    pub(super) type_nodes: Vec<Vec<NodeId>>,
    pub(crate) ledger: Ledger,
    /// Per workload: GPUs of its smallest replica (0 for training).
    pub(super) min_gpus: Vec<u32>,
    /// Per workload, what its requests' smallest shape depends on.
    pub(super) shapes: Shapes,
    pub(super) dirty: bool,
    pub(super) audit: bool,
    pub(super) started: bool,
    pub(crate) finished: bool,
    pub(crate) stats: Stats,
    /// Allocations with a pending move at their next checkpoint.
    pub(super) migrating: std::collections::BTreeSet<(AllocId, u32)>,
}

impl Engine {
    pub fn new(sc: Scenario, policy: Box<dyn Policy>) -> Self {
        let mut cluster = Cluster::new(&sc.gpu_types, &sc.pools, sc.tenants.len());
        cluster.keep_eviction_cost_index(policy.wants_eviction_cost_index());
        let mut type_nodes = vec![Vec::new(); sc.gpu_types.len()];
        for (i, n) in cluster.nodes.iter().enumerate() {
            type_nodes[n.gpu_type].push(i as NodeId);
        }
        let ledger = Ledger::new(&sc);
        // GPUs of a workload's smallest replica (inference and batch), for the GPUs waiting
        // work needs; training requests carry their gang.
        let min_gpus = (sc.workloads.iter())
            .map(|w| {
                (0..sc.gpu_types.len())
                    .filter(|&t| sc.type_gpus(t) > 0)
                    .filter_map(|t| w.replica_gpus.get(t).copied().flatten())
                    .min()
                    .unwrap_or(0)
            })
            .collect();
        let failure_rng = rng_for(sc.seed, STREAM_FAILURES);
        Engine {
            policy,
            now: 0,
            cluster,
            allocs: Allocs::default(),
            jobs: Vec::new(),
            free_jobs: Vec::new(),
            job_history: false,
            services: Vec::new(),
            queue: Queue::default(),
            entered: Vec::new(),
            heads: ClassHeads::default(),
            waiting_gangs: Vec::new(),
            scratch: Vec::new(),
            queued_by_tenant: vec![0; sc.tenants.len()],
            events: EventQueue::default(),
            ev_seq: 0,
            q_seq: 0,
            streams: Vec::new(),
            held: Vec::new(),
            failure_rng,
            failure_gen: 0,
            type_nodes,
            ledger,
            min_gpus,
            shapes: Shapes::new(&sc),
            dirty: false,
            audit: false,
            started: false,
            finished: false,
            migrating: std::collections::BTreeSet::new(),
            stats: Stats {
                training_waits: vec![Samples::default(); sc.tenants.len()],
                ..Stats::default()
            },
            sc,
        }
    }

    /// Checks every invariant after every event (slow; for tests).
    pub fn with_audit(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// Keeps every job in [`Self::jobs`] after it completes or is rejected (by default their
    /// slots are reused, so memory follows the jobs in the system, not all jobs ever).
    pub fn with_job_history(mut self, on: bool) -> Self {
        self.job_history = on;
        self
    }

    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    pub fn now(&self) -> Time {
        self.now
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.stats.events
    }

    /// Per workload: the number of arrivals taken from its stream and a fingerprint of their
    /// times, sizes and tokens (held batch jobs included, counted at the horizon).
    pub fn arrivals(&self) -> &[(u64, u64)] {
        &self.stats.arrivals
    }

    /// Asks the engine's policy where it would place one more request of workload `w` now (a
    /// replica for a service, else a job of `gang` GPUs), without applying the decision: one
    /// placement decision on the current state, for benchmarks and tools.
    pub fn probe(&mut self, w: usize, gang: u32) -> crate::policy::Decision {
        let req = match self.services.iter().position(|s| s.workload == w) {
            Some(s) => self.replica_request(s as ServiceId),
            None => {
                let wl = &self.sc.workloads[w];
                Request {
                    target: Target::Job(self.jobs.len() as JobId),
                    kind: wl.kind(),
                    workload: w,
                    tenant: wl.tenant,
                    priority: wl.priority,
                    preemptible: wl.preemptible,
                    arrival: self.now,
                    gang,
                    tokens_left: 1e9,
                    // The serial the next job would get, so its workflow is a fresh one.
                    serial: self.stats.submitted_jobs as u32,
                    smallest: self.shapes.smallest(&self.sc, w, gang),
                }
            }
        };
        let view = view!(self);
        self.policy.place(&view, &req)
    }

    /// Jobs queued or running, and slots of finished jobs not yet reused; every job ever
    /// submitted, in submission order, with [`Self::with_job_history`].
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The read-only view a policy decides on, of the state now.
    pub fn view(&self) -> View<'_> {
        view!(self)
    }

    /// The queue of waiting requests.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Counters that are not GPU time or tokens.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The GPU-time and token ledger (complete once the run reached its horizon).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    #[inline]
    pub(super) fn push(&mut self, ev: Ev, at: Time) {
        let seq = if ev == Ev::Horizon {
            u64::MAX
        } else {
            self.ev_seq
        };
        self.ev_seq += 1;
        self.events.push(at, seq, ev);
        self.stats.peak_events = self.stats.peak_events.max(self.events.len());
    }

    fn start(&mut self) {
        self.started = true;
        let view = view!(self);
        if let Some(owners) = self.policy.initial_tenants(&view) {
            for (n, owner) in owners.into_iter().enumerate() {
                self.cluster
                    .update_node(n as NodeId, |node| node.tenant = owner);
            }
        }
        let types = self.sc.gpu_types.len();
        self.stats.arrivals = vec![(0, 0); self.sc.workloads.len()];
        for (i, w) in self.sc.workloads.iter().enumerate() {
            match &w.spec {
                Spec::Inference(spec) => {
                    let slo = &spec.slo;
                    (self.services).push(Service::new(i, types, slo.delay, slo.abandon_after));
                    self.streams.push(None);
                    self.held.push(None);
                }
                _ => {
                    self.streams.push(Some(ArrivalStream::new(
                        w,
                        i,
                        self.sc.seed,
                        self.sc.horizon,
                    )));
                    self.held.push(match &w.spec {
                        Spec::Batch(b) => Some(Held {
                            backlog_left: b.backlog_jobs as u64,
                            next_seq: 0,
                            tokens: b.job_tokens,
                            event_pending: false,
                        }),
                        _ => None,
                    });
                }
            }
        }
        for i in 0..self.streams.len() {
            let backlog = self.held[i].as_ref().is_some_and(|h| h.backlog_left > 0);
            if backlog {
                let tenant = self.sc.workloads[i].tenant;
                self.ledger.meters[tenant].backlog_change(0, true);
            }
            let first = if backlog {
                Some(0)
            } else {
                self.streams[i].as_ref().and_then(|s| s.peek_time())
            };
            if let Some(t) = first {
                if let Some(h) = &mut self.held[i] {
                    h.event_pending = true;
                }
                self.push(Ev::Arrival(i as u32), t);
            }
        }
        self.push(Ev::Tick, 0);
        if self.sc.failures {
            self.schedule_failure();
        }
        self.push(Ev::Horizon, self.sc.horizon);
    }

    /// Runs to the horizon.
    pub fn run(&mut self) -> Result<(), SimError> {
        self.run_until(Time::MAX)
    }

    /// Runs until simulated time `until` or the horizon, whichever is first; resumable.
    pub fn run_until(&mut self, until: Time) -> Result<(), SimError> {
        if !self.started {
            self.start();
        }
        while !self.finished {
            let (allocs, fg) = (&self.allocs, self.failure_gen);
            let live = |e: &Ev| is_live_loading(allocs, fg, e);
            let Some(t) = self.events.peek_time(&live) else {
                break;
            };
            if t > until {
                break;
            }
            let (_, ev) = self.events.pop(&live).expect("peeked");
            if let Some(&Ev::Alloc(id, _)) = self.events.sorted_ahead(LOOK_AHEAD) {
                self.allocs.prefetch(id);
            }
            if t < self.now {
                return Err(SimError::Audit {
                    at_s: secs(self.now),
                    event: self.stats.events,
                    reason: format!("time went backwards to {}s", secs(t)),
                });
            }
            let dt = (t - self.now) as u128;
            self.stats.queued_jobs_area += self.stats.queued_jobs as u128 * dt;
            self.stats.running_jobs_area += self.stats.running_jobs as u128 * dt;
            self.ledger.advance(t, &self.cluster);
            self.now = t;
            self.stats.events += 1;
            match ev {
                Ev::Horizon => {
                    self.finish();
                    break;
                }
                Ev::Alloc(id, generation) => {
                    if self.allocs.is_current(id, generation) {
                        self.next_phase(id);
                    }
                }
                Ev::Arrival(w) => self.arrival(w as usize),
                Ev::Tick => self.tick(),
                Ev::Migrate(id, generation) => {
                    if self.allocs.is_current(id, generation) {
                        self.migrate(id)?;
                    }
                }
                Ev::Failure(_) => self.failure(),
                Ev::Repair(n) => self.repair(n),
            }
            let (allocs, fg) = (&self.allocs, self.failure_gen);
            let more_now =
                self.events.peek_time(&|e: &Ev| is_live(allocs, fg, e)) == Some(self.now);
            if self.dirty && !more_now {
                self.schedule()?;
            }
            if self.audit {
                super::audit::check(self).map_err(|reason| SimError::Audit {
                    at_s: secs(self.now),
                    event: self.stats.events,
                    reason,
                })?;
                self.stats.audit_tokens = self.ledger.total_tokens();
            }
        }
        Ok(())
    }

    /// Horizon in hours.
    pub fn horizon_hours(&self) -> f64 {
        self.sc.horizon as f64 / US_PER_HOUR as f64
    }
}
