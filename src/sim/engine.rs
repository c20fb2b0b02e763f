//! The event loop and the state changes it makes: arrivals, placement, switch phases,
//! completions, autoscaling, preemption, failures and repairs, and the horizon.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::alloc::{Alloc, AllocId, Allocs, GpuList, Phase};
use super::events::EventQueue;
use super::job::{Job, JobState};
use super::queue::{ClassHeads, Queue};
use super::request::{JobId, QueueKey, Request, ServiceId, Target};
use super::service::{Service, efficiency_key};
use crate::config::Scenario;
use crate::fleet::cluster::{GpuState, NONE};
use crate::fleet::{Cluster, NodeId, Shape, TypeId};
use crate::metrics::{Ledger, Samples};
use crate::policy::{Decision, NodeList, Placement, Policy, View};
use crate::units::{Time, US_PER_HOUR, from_secs_f64, secs};
use crate::workload::arrivals::{ArrivalStream, STREAM_FAILURES, rng_for};
use crate::workload::demand;
use crate::workload::{Kind, Spec, TenantId};

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

/// The engine's preemption rule for one victim, shared with the policies: it must have been
/// running for at least `simulation.preempt_exempt`, and either preemptible while the
/// requester is not (it yields), or borrowed (reclaimed): its tenant occupies more GPUs than
/// it reserved, and the requester's tenant stays within its own reservation once the request
/// is placed. Quotas count the GPUs of occupied nodes, since a partly used node is closed to
/// other tenants. [`victims_allowed`] adds the condition on a whole set of victims.
pub fn preemption_allowed(sc: &Scenario, c: &Cluster, req: &Request, a: &Alloc, now: Time) -> bool {
    // Work must have run `preempt_exempt` first, so evictions cannot thrash.
    if a.phase != Phase::Running || now < a.phase_start.saturating_add(sc.preempt_exempt) {
        return false;
    }
    yields(req, a)
        || (a.tenant != req.tenant
            && c.occupied()[a.tenant] > reserved(sc, a.tenant)
            && within_quota(sc, c, req))
}

fn yields(req: &Request, a: &Alloc) -> bool {
    a.preemptible && !req.preemptible
}

/// Whether a set of victims may be evicted for `req`: each is allowed, and the nodes the
/// reclaimed (not yielding) victims vacate take from each tenant only what it occupies beyond
/// its reservation. So a reclaim never pushes a tenant below its quota, and that tenant cannot
/// reclaim back: quotas do not flap.
pub fn victims_allowed(
    sc: &Scenario,
    c: &Cluster,
    req: &Request,
    victims: &[(AllocId, &Alloc)],
    now: Time,
) -> bool {
    let mut reclaims = false;
    for &(_, a) in victims {
        if !preemption_allowed(sc, c, req, a, now) {
            return false;
        }
        reclaims |= !yields(req, a);
    }
    // The quota rule only bounds reclaims: a set of victims that all yield keeps it.
    !reclaims || VictimSet::new(sc.tenants.len()).add(sc, c, req, victims)
}

/// A set of victims grown a few at a time, with what the quota rule of [`victims_allowed`]
/// needs to judge it, so that a policy adding victims one node at a time need not re-judge
/// the whole set at each step.
#[derive(Clone, Debug, Default)]
pub struct VictimSet {
    pub ids: BTreeSet<AllocId>,
    /// Nodes every holder of which is in the set.
    vacated: BTreeSet<NodeId>,
    /// GPUs of the vacated nodes, by their tenant.
    vacated_gpus: Vec<u64>,
    /// Tenants with a victim that does not yield (reclaimed, not preempted).
    reclaimed_from: BTreeSet<TenantId>,
}

impl VictimSet {
    pub fn new(tenants: usize) -> Self {
        VictimSet {
            vacated_gpus: vec![0; tenants],
            ..Default::default()
        }
    }

    /// Adds `victims` if the grown set keeps the quota rule of [`victims_allowed`], and
    /// returns whether it did (checking each victim against [`preemption_allowed`] is the
    /// caller's).
    pub fn add(
        &mut self,
        sc: &Scenario,
        c: &Cluster,
        req: &Request,
        victims: &[(AllocId, &Alloc)],
    ) -> bool {
        let new: BTreeSet<AllocId> = (victims.iter())
            .map(|v| v.0)
            .filter(|id| !self.ids.contains(id))
            .collect();
        let is_in = |id: &AllocId| self.ids.contains(id) || new.contains(id);
        let mut reclaimed = BTreeSet::new();
        let mut vacated = BTreeSet::new();
        for &(id, a) in victims {
            if !new.contains(&id) {
                continue;
            }
            if !yields(req, a) && !self.reclaimed_from.contains(&a.tenant) {
                reclaimed.insert(a.tenant);
            }
            for &(m, _) in &a.nodes {
                if !self.vacated.contains(&m)
                    && !vacated.contains(&m)
                    && c.nodes[m as usize].allocs.iter().all(is_in)
                {
                    vacated.insert(m);
                }
            }
        }
        let mut gpus = self.vacated_gpus.clone();
        for &m in &vacated {
            if let Some(t) = c.nodes[m as usize].tenant {
                gpus[t] += c.nodes[m as usize].gpus as u64;
            }
        }
        let within = |t: TenantId| gpus[t] == 0 || c.occupied()[t] >= reserved(sc, t) + gpus[t];
        if !(self.reclaimed_from.iter().chain(&reclaimed)).all(|&t| within(t)) {
            return false;
        }
        self.ids.extend(new);
        self.vacated.extend(vacated);
        self.vacated_gpus = gpus;
        self.reclaimed_from.extend(reclaimed);
        true
    }
}

fn reserved(sc: &Scenario, t: usize) -> u64 {
    sc.tenants[t].reserved_total() as u64
}

/// Whether `req`, on its smallest shape rounded up to whole nodes, keeps its tenant within its
/// reservation.
pub fn within_quota(sc: &Scenario, c: &Cluster, req: &Request) -> bool {
    let smallest = (0..sc.gpu_types.len())
        .filter_map(|t| {
            req.gpus_on(sc, t)
                .map(|g| g.div_ceil(sc.gpu_types[t].node_gpus) * sc.gpu_types[t].node_gpus)
        })
        .min()
        .unwrap_or(u32::MAX);
    c.occupied()[req.tenant] + smallest as u64 <= reserved(sc, req.tenant)
}

/// Books an allocation's current phase, from its start up to `now`, in the state it implies.
/// A loading job's phase is its workflow switch and then, if it has started by `now`, its run;
/// the state integrals counted its GPUs as switching throughout, so the run's part moves to
/// busy there.
fn book_phase(ledger: &mut Ledger, a: &Alloc, now: Time) {
    let gpus = a.phase_gpus() as u128;
    if a.loading {
        let loaded = a.phase_start.min(now);
        let switch_us = gpus * (loaded - (a.phase_start - a.workflow_switch)) as u128;
        let ws = GpuState::WorkflowSwitch;
        ledger.book_time(a.tenant, a.gpu_type, a.kind, ws, switch_us);
        let run_us = gpus * (now - loaded) as u128;
        if run_us > 0 {
            ledger.book_time(a.tenant, a.gpu_type, a.kind, GpuState::Busy, run_us);
            ledger.move_state_time(a.gpu_type, ws, GpuState::Busy, run_us);
        }
        return;
    }
    let gpu_us = gpus * (now - a.phase_start) as u128;
    ledger.book_time(a.tenant, a.gpu_type, a.kind, a.phase.gpu_state(), gpu_us);
}

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
        }
    };
}

/// Whether an event still matters: an allocation's event is stale once that allocation was
/// released (its slot's generation moved on), a failure once the fleet's failure rate changed
/// (`failure_gen`).
fn is_live(allocs: &Allocs, failure_gen: u32, e: &Ev) -> bool {
    match *e {
        Ev::Alloc(id, generation) => allocs.is_current(id, generation),
        Ev::Failure(generation) => generation == failure_gen,
        _ => true,
    }
}

/// Placement passes at one instant before the engine moves on to the next event.
const MAX_PASSES_PER_INSTANT: usize = 64;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Horizon,
    Alloc(AllocId, u32),
    Arrival(u32),
    Tick,
    Failure(u32),
    Repair(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Completed,
    Preempted,
    ScaledDown,
    Failed,
}

/// Counters that are not GPU time or tokens.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: u64,
    /// Time from arrival to first start, per job, by `Kind as usize`; a job that never
    /// started counts, censored, with its wait up to the horizon.
    pub waits: [Samples; 3],
    /// Time from arrival to completion, per job, by `Kind as usize`; a job not done by the
    /// horizon counts, censored, with its time up to then.
    pub completions: [Samples; 3],
    pub preemptions: u64,
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
struct Held {
    backlog_left: u64,
    /// Queue sequence numbers reserved for the backlog, so it keeps the order it would have
    /// had if every job had been queued at time 0.
    next_seq: u64,
    tokens: f64,
    event_pending: bool,
}

pub struct Engine {
    pub(crate) sc: Scenario,
    policy: Box<dyn Policy>,
    pub(crate) now: Time,
    pub(crate) cluster: Cluster,
    pub(crate) allocs: Allocs,
    pub(crate) jobs: Vec<Job>,
    /// Slots of finished jobs, for reuse.
    free_jobs: Vec<JobId>,
    job_history: bool,
    pub(crate) services: Vec<Service>,
    pub(crate) queue: Queue,
    /// Queued requests per tenant.
    pub(crate) queued_by_tenant: Vec<u64>,
    /// Keys enqueued since the current placement pass started (requeued victims, replacement
    /// replicas), so the pass can offer them in priority order.
    entered: Vec<QueueKey>,
    /// Class heads of the placement pass in progress (kept to reuse its memory).
    heads: ClassHeads,
    /// A node's free GPUs while a placement picks among them (kept to reuse its memory).
    scratch: Vec<u32>,
    /// Pending events by (time, push order). Each allocation has at most one pending event and
    /// stale ones are recognised by their generation, so nothing is looked up or re-prioritised.
    events: EventQueue<Ev>,
    ev_seq: u64,
    q_seq: u64,
    streams: Vec<Option<ArrivalStream>>,
    held: Vec<Option<Held>>,
    failure_rng: ChaCha8Rng,
    /// Generation of the pending failure event (see [`is_live`]).
    failure_gen: u32,
    type_nodes: Vec<Vec<NodeId>>,
    pub(crate) ledger: Ledger,
    dirty: bool,
    audit: bool,
    started: bool,
    pub(crate) finished: bool,
    pub(crate) stats: Stats,
}

impl Engine {
    pub fn new(sc: Scenario, policy: Box<dyn Policy>) -> Self {
        let mut cluster = Cluster::new(&sc.gpu_types, &sc.pools, sc.tenants.len());
        cluster.keep_eviction_cost_index(policy.wants_eviction_cost_index());
        let mut type_nodes = vec![Vec::new(); sc.gpu_types.len()];
        for (i, n) in cluster.nodes.iter().enumerate() {
            type_nodes[n.gpu_type].push(i as NodeId);
        }
        let ledger = Ledger::new(sc.gpu_types.len(), sc.tenants.len());
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
            dirty: false,
            audit: false,
            started: false,
            finished: false,
            stats: Stats::default(),
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

    /// The GPU-time and token ledger (complete once the run reached its horizon).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn push(&mut self, ev: Ev, at: Time) {
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
                Spec::Inference(_) => {
                    self.services.push(Service::new(i, types));
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
            let live = |e: &Ev| is_live(allocs, fg, e);
            let Some(t) = self.events.peek_time(&live) else {
                break;
            };
            if t > until {
                break;
            }
            let (_, ev) = self.events.pop(&live).expect("peeked");
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

    // ----- queue -----

    fn enqueue(&mut self, req: Request) -> QueueKey {
        self.enqueue_at(req, None)
    }

    /// Queues `req` with a reserved sequence number, or the next one.
    fn enqueue_at(&mut self, req: Request, seq: Option<u64>) -> QueueKey {
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
    fn dequeue(&mut self, key: &QueueKey) -> Option<Target> {
        let target = self.queue.remove(key)?;
        let w = key.workload as usize;
        self.queued_by_tenant[self.sc.workloads[w].tenant] -= 1;
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

    /// The request a queue entry stands for, rebuilt from its job or service (nothing it is
    /// made of changes while it waits).
    fn queued_request(&self, key: &QueueKey, target: Target) -> Request {
        match target {
            Target::Job(j) => self.job_request(j),
            Target::Replica(s) => Request {
                arrival: key.arrival,
                ..self.replica_request(s)
            },
        }
    }

    fn job_request(&self, j: JobId) -> Request {
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
        }
    }

    fn replica_request(&self, s: ServiceId) -> Request {
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
        }
    }

    // ----- events -----

    /// Takes every arrival of workload `w` due now (a backlog arrives as one event); a batch
    /// workload only tops up its held queue.
    fn arrival(&mut self, w: usize) {
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
    fn take_arrival(&mut self, w: usize) -> Option<crate::workload::arrivals::JobArrival> {
        let a = self.streams[w].as_mut()?.pop()?;
        self.note_arrival(w, a.at, a.gpus, a.tokens);
        Some(a)
    }

    fn note_arrival(&mut self, w: usize, at: Time, gpus: u32, tokens: f64) {
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
    fn refill(&mut self, w: usize) {
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
    fn close_held(&mut self) {
        for w in 0..self.held.len() {
            let Some(h) = self.held[w].as_mut() else {
                continue;
            };
            let backlog = std::mem::take(&mut h.backlog_left);
            let tokens = h.tokens;
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
    fn submit(&mut self, w: usize, gang: u32, tokens: f64, arrival: Time, seq: Option<u64>) {
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
    fn retire_job(&mut self, id: JobId) {
        if !self.job_history {
            self.free_jobs.push(id);
        }
    }

    /// Autoscaling, and a placement pass if work waits: a policy may choose to wait (for a
    /// cheaper node, or until switching pays), and must be asked again even if nothing else
    /// changes.
    fn tick(&mut self) {
        for s in 0..self.services.len() {
            self.autoscale(s as ServiceId);
        }
        if !self.queue.is_empty() {
            self.dirty = true;
        }
        let next = self.now + self.sc.autoscale_interval;
        if next < self.sc.horizon {
            self.push(Ev::Tick, next);
        }
    }

    /// Integrates a service's tokens to now and books them.
    fn accrue_service(&mut self, s: ServiceId) {
        let svc = &mut self.services[s as usize];
        let by_type = svc.accrue(self.now);
        let tenant = self.sc.workloads[svc.workload].tenant;
        for (t, tok) in by_type.into_iter().enumerate() {
            if tok > 0.0 {
                self.ledger.book_tokens(tenant, t, Kind::Inference, tok);
            }
        }
    }

    /// Sets demand for the coming interval and adds or removes replicas to match it.
    fn autoscale(&mut self, s: ServiceId) {
        self.accrue_service(s);
        let wi = self.services[s as usize].workload;
        let w = &self.sc.workloads[wi];
        let Spec::Inference(spec) = &w.spec else {
            return;
        };
        let mid = (self.now + self.sc.autoscale_interval / 2).min(self.sc.horizon);
        let end = (self.now + self.sc.autoscale_interval).min(self.sc.horizon);
        let step = demand::step(spec, self.now, end, mid);
        let desired = step.work_per_s / spec.target_utilization;
        let min_r = spec.min_replicas as usize;
        // Queued replicas are counted at the best capacity they could get, so the queue is
        // not overfilled; the next tick tops up if they land on slower GPUs.
        // Types the fleet has none of cannot host a replica: their demand goes unserved.
        let est = (0..self.sc.gpu_types.len())
            .filter(|&t| self.cluster.type_gpus[t] > 0)
            .filter_map(|t| Some(w.rate(t)? * w.replica_gpus[t]? as f64))
            .fold(0.0, f64::max);
        let svc = &mut self.services[s as usize];
        svc.close_demand_step(self.now);
        svc.demand = step.work_per_s;
        svc.out_per_work = step.out_per_work;
        svc.prompt_per_work = step.prompt_per_work;
        let mut have = svc.capacity() + svc.starting_cap;
        let placed = svc.running.len() + svc.starting.len();
        let mut want_queued = if est > 0.0 {
            ((desired - have).max(0.0) / est).ceil() as usize
        } else {
            0
        };
        if est > 0.0 {
            want_queued = want_queued.max(min_r.saturating_sub(placed));
        }
        // Never more replicas than the fleet could hold at once, whatever the demand: the
        // queue is bounded by the fleet, not by a demand figure.
        let hostable: u64 = (0..self.sc.gpu_types.len())
            .filter(|&t| w.rate(t).is_some())
            .filter_map(|t| Some(self.cluster.type_gpus[t] as u64 / w.replica_gpus[t]? as u64))
            .sum();
        want_queued = want_queued.min(hostable.saturating_sub(placed as u64) as usize);
        while self.services[s as usize].queued.len() > want_queued {
            let key = *self.services[s as usize].queued.last().expect("non-empty");
            self.dequeue(&key);
        }
        while self.services[s as usize].queued.len() < want_queued {
            let req = self.replica_request(s);
            self.enqueue(req);
        }
        if want_queued == 0 {
            loop {
                let svc = &self.services[s as usize];
                if svc.running.len() + svc.starting.len() <= min_r {
                    break;
                }
                let Some(&(_, id)) = svc.running.iter().next() else {
                    break;
                };
                let r = self.allocs.get(id).expect("running replica").rate;
                if have - r < desired {
                    break;
                }
                have -= r;
                self.release(id, End::ScaledDown);
                self.stats.replicas_stopped += 1;
            }
        }
    }

    /// Expected failures per hour of each GPU type's GPUs that are up (a node that is down
    /// cannot fail again).
    fn failure_rates(&self) -> Vec<f64> {
        (0..self.sc.gpu_types.len())
            .map(|t| {
                let up = self.cluster.type_gpus[t] as u64
                    - self.cluster.state_count[t][GpuState::Down as usize];
                up as f64 * self.sc.gpu_types[t].failures_per_gpu_hour
            })
            .collect()
    }

    /// Draws the next failure at the rate of the GPUs up now, replacing any pending one (the
    /// process is memoryless, so drawing afresh whenever the rate changes is exact): failure
    /// events are then bounded by the fleet's repairs, not by the rate.
    fn schedule_failure(&mut self) {
        self.failure_gen = self.failure_gen.wrapping_add(1);
        let rates = self.failure_rates();
        let total: f64 = rates.iter().sum();
        if total <= 0.0 {
            return;
        }
        let u: f64 = self.failure_rng.random();
        let gap_h = -(1.0 - u).ln() / total;
        let at = self.now.saturating_add(from_secs_f64(gap_h * 3_600.0));
        if at < self.sc.horizon {
            self.push(Ev::Failure(self.failure_gen), at);
        }
    }

    fn failure(&mut self) {
        let rates = self.failure_rates();
        let total: f64 = rates.iter().sum();
        let mut x = self.failure_rng.random::<f64>() * total;
        let mut t = 0;
        while t + 1 < rates.len() && (x >= rates[t] || rates[t] == 0.0) {
            x -= rates[t];
            t += 1;
        }
        // A node of that type that is up, uniformly: drawn until one is (the rate says some
        // are; most are, as a rule), else the first up one after the last draw.
        let nodes = &self.type_nodes[t];
        let mut n = nodes[self.failure_rng.random_range(0..nodes.len())];
        for _ in 0..64 {
            if !self.cluster.nodes[n as usize].down {
                break;
            }
            n = nodes[self.failure_rng.random_range(0..nodes.len())];
        }
        if self.cluster.nodes[n as usize].down {
            let i = nodes.iter().position(|&m| m == n).expect("listed");
            n = (nodes[i..].iter().chain(&nodes[..i]))
                .copied()
                .find(|&m| !self.cluster.nodes[m as usize].down)
                .expect("a type with a failure rate has a node up");
        }
        self.fail_node(n);
        self.schedule_failure();
    }

    fn fail_node(&mut self, n: NodeId) {
        self.stats.failures += 1;
        tracing::debug!(t_s = secs(self.now), node = n, "node failed");
        let victims = self.cluster.nodes[n as usize].allocs.clone();
        for id in victims {
            self.release(id, End::Failed);
        }
        self.cluster.update_node(n, |node| {
            node.down = true;
            node.free = 0;
            node.switch_until = 0;
        });
        let (first, count) = {
            let node = &self.cluster.nodes[n as usize];
            (node.first_gpu, node.gpus)
        };
        for g in first..first + count {
            self.cluster.set_gpu_state(g, GpuState::Down);
            self.cluster.gpu_workflow[g as usize] = NONE;
        }
        let repair = self.sc.gpu_types[self.cluster.nodes[n as usize].gpu_type].repair_time;
        self.push(Ev::Repair(n), self.now + repair);
    }

    fn repair(&mut self, n: NodeId) {
        let (first, count) = {
            let node = &self.cluster.nodes[n as usize];
            (node.first_gpu, node.gpus)
        };
        for g in first..first + count {
            self.cluster.set_gpu_state(g, GpuState::Idle);
        }
        self.cluster.update_node(n, |node| {
            node.down = false;
            node.free = node.gpus;
        });
        self.dirty = true;
        if self.sc.failures {
            self.schedule_failure();
        }
    }

    // ----- scheduling -----

    /// One scheduling pass (repeated while it places work and frees more): the head of each
    /// class of identical requests is offered to the policy in queue order; a class whose head
    /// must wait is skipped for the rest of the pass.
    fn schedule(&mut self) -> Result<(), SimError> {
        // Passes repeat while one places work and frees more; a bound keeps a policy that
        // keeps evicting and re-placing at one instant from spinning (the next event retries).
        self.cluster.promote(self.now);
        for _ in 0..MAX_PASSES_PER_INSTANT {
            self.dirty = false;
            let mut placed_any = false;
            // Each class's head, popped in queue order; a class's head moves up when earlier
            // work of the class enters during the pass.
            let mut heads = std::mem::take(&mut self.heads);
            heads.reset(self.queue.heads());
            self.entered.clear();
            loop {
                // Work enqueued during the pass (evicted victims above all) takes its place in
                // queue order before the next offer, so lower-priority classes do not take the
                // GPUs a preemption freed ahead of the higher-priority work it evicted.
                // Only the earliest of each class matters (a preemption requeues its victims,
                // hundreds of one class at a time).
                self.entered.sort_unstable_by_key(|k| (k.class(), *k));
                let mut done = None;
                for k in self.entered.drain(..) {
                    if done != Some(k.class()) && self.queue.get(&k).is_some() {
                        done = Some(k.class());
                        heads.push_increase(k);
                    }
                }
                let Some(key) = heads.pop() else {
                    break;
                };
                let no_free = (0..self.sc.gpu_types.len()).all(|t| self.cluster.free_gpus(t) == 0);
                if no_free && !self.cluster.has_preemptible() && !self.anyone_borrowing() {
                    break;
                }
                let Some(target) = self.queue.get(&key) else {
                    continue;
                };
                let req = self.queued_request(&key, target);
                let fits = (0..self.sc.gpu_types.len()).any(|t| {
                    req.gpus_on(&self.sc, t)
                        .is_some_and(|g| self.cluster.available(t, req.tenant) >= g as u64)
                });
                if !fits && !self.could_preempt_for(&req) {
                    continue;
                }
                if self.offer(key, &req)? {
                    placed_any = true;
                    if let Some(next) = self.queue.next_in_class(&key) {
                        heads.push_increase(next);
                    }
                }
            }
            self.heads = heads;
            if !(self.dirty && placed_any) {
                break;
            }
        }
        self.dirty = false;
        Ok(())
    }

    /// Offers one request to the policy; returns whether it was placed.
    fn offer(&mut self, key: QueueKey, req: &Request) -> Result<bool, SimError> {
        for round in 0.. {
            let decision = {
                let view = view!(self);
                self.policy.place(&view, req)
            };
            match decision {
                Decision::Wait => return Ok(false),
                Decision::Place(p) => {
                    self.validate(req, &p)?;
                    self.dequeue(&key);
                    self.place(req, p);
                    return Ok(true);
                }
                Decision::Preempt(victims) => {
                    if round >= 4 {
                        return Err(
                            self.invalid("preempted four times for one request without placing it")
                        );
                    }
                    if victims.is_empty() {
                        return Err(self.invalid("asked to preempt nothing"));
                    }
                    let set: Option<Vec<(AllocId, &Alloc)>> = victims
                        .iter()
                        .map(|&v| self.allocs.get(v).map(|a| (v, a)))
                        .collect();
                    if !set.is_some_and(|set| {
                        victims_allowed(&self.sc, &self.cluster, req, &set, self.now)
                    }) {
                        return Err(self.invalid(
                            "these allocations may not be preempted for this request: a victim must be running and either preemptible (for non-preemptible work) or borrowed (its tenant above its reservation by at least what is reclaimed, the requester within its own)",
                        ));
                    }
                    tracing::debug!(t_s = secs(self.now), victims = victims.len(), workload = %self.sc.workloads[req.workload].name, "preempting");
                    for v in victims {
                        self.release(v, End::Preempted);
                        self.stats.preemptions += 1;
                    }
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Whether any allocation might be evicted for `req` under [`preemption_allowed`]: a cheap
    /// necessary condition, so requests that can neither fit nor preempt are not offered.
    fn could_preempt_for(&self, req: &Request) -> bool {
        let yields = !req.preemptible && self.cluster.has_preemptible();
        let reclaim = (!req.preemptible || self.policy.preempts_for_preemptible())
            && within_quota(&self.sc, &self.cluster, req)
            && (0..self.sc.tenants.len())
                .any(|t| t != req.tenant && self.cluster.occupied()[t] > reserved(&self.sc, t));
        yields || reclaim
    }

    /// Whether some tenant holds more GPUs than it reserved (so a reclaim is possible).
    fn anyone_borrowing(&self) -> bool {
        (0..self.sc.tenants.len()).any(|t| self.cluster.occupied()[t] > reserved(&self.sc, t))
    }

    fn invalid(&self, reason: &str) -> SimError {
        SimError::InvalidDecision {
            policy: self.policy.name().into(),
            at_s: secs(self.now),
            reason: reason.into(),
        }
    }

    fn validate(&self, req: &Request, p: &Placement) -> Result<(), SimError> {
        let t = p.gpu_type;
        if t >= self.sc.gpu_types.len() {
            return Err(self.invalid("unknown GPU type"));
        }
        let Some(g) = req.gpus_on(&self.sc, t) else {
            return Err(self.invalid(&format!(
                "the request cannot run on {}",
                self.sc.gpu_types[t].name
            )));
        };
        let total: u32 = p.nodes.iter().map(|&(_, k)| k).sum();
        if total != g {
            return Err(self.invalid(&format!("placed {total} GPUs for a request of {g}")));
        }
        let ng = self.sc.gpu_types[t].node_gpus;
        if !Shape::of(g, ng).matches(ng, p.nodes.iter().map(|x| x.1)) {
            return Err(self.invalid(&format!(
                "{g} GPUs placed as {:?} on nodes of {ng}: a request that fits in one node takes one node, a wider one whole nodes and the remainder on one",
                p.nodes.iter().map(|x| x.1).collect::<Vec<_>>()
            )));
        }
        let mut listed: smallvec::SmallVec<[NodeId; 8]> = p.nodes.iter().map(|x| x.0).collect();
        listed.sort_unstable();
        let twice = listed.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
        let mut domain = None;
        for &(n, k) in &p.nodes {
            let Some(node) = self.cluster.nodes.get(n as usize) else {
                return Err(self.invalid(&format!("node {n} does not exist")));
            };
            if twice == Some(n) || k == 0 {
                return Err(self.invalid(&format!("node {n} listed twice or with 0 GPUs")));
            }
            if node.gpu_type != t {
                return Err(self.invalid(&format!(
                    "node {n} is not of type {}",
                    self.sc.gpu_types[t].name
                )));
            }
            if node.usable_by(req.tenant) < k {
                return Err(self.invalid(&format!(
                    "node {n} cannot give {k} GPUs to tenant {} (free {}, tenant {:?}, class {:?})",
                    self.sc.tenants[req.tenant].name,
                    node.free,
                    node.tenant,
                    node.class()
                )));
            }
            if req.needs_one_domain(&self.sc, t)
                && *domain.get_or_insert(node.domain) != node.domain
            {
                return Err(
                    self.invalid("a gang that needs one NVLink domain was spread over several")
                );
            }
        }
        Ok(())
    }

    fn workflow_switch_time(&self, req: &Request, t: TypeId) -> Time {
        let ty = &self.sc.gpu_types[t];
        match self.sc.workloads[req.workload].model_gb() {
            Some(gb) => ty.model_load_time(gb),
            None => ty.training_restart,
        }
    }

    /// Applies a validated placement.
    fn place(&mut self, req: &Request, p: Placement) {
        let t = p.gpu_type;
        let wf = req.workflow(&self.sc);
        let ty = &self.sc.gpu_types[t];
        let ts_time = ty.tenant_switch;
        let mut gpus = GpuList::new();
        let mut switched = NodeList::new();
        // Nodes being re-provisioned for this tenant that the request joins, with the GPUs it
        // takes there from the switch's lock: it starts when their switch ends.
        let mut joined = NodeList::new();
        let mut switch_end = self.now;
        let mut any_wf = false;
        for &(n, k) in &p.nodes {
            let node = &self.cluster.nodes[n as usize];
            let switch =
                node.used == 0 && node.locked == 0 && node.tenant.is_some_and(|x| x != req.tenant);
            // A node still being re-provisioned for this tenant: work placed there starts when
            // the switch ends, whether it takes GPUs the switch locks or GPUs that work which
            // joined the switch gave back.
            let joins = !switch && node.switch_until > self.now;
            if joins {
                switch_end = switch_end.max(node.switch_until);
            }
            let free = &mut self.scratch;
            free.clear();
            free.extend(
                (node.first_gpu..node.first_gpu + node.gpus)
                    .filter(|&g| self.cluster.gpu_alloc[g as usize] == NONE),
            );
            // GPUs that already hold this workflow first: they need no load; then free GPUs
            // before those a switch locks.
            let locked = |g: u32| self.cluster.gpu_state[g as usize] == GpuState::TenantSwitch;
            free.sort_by_key(|&g| (self.cluster.gpu_workflow[g as usize] != wf, locked(g), g));
            let picked = &free[..k as usize];
            if joins {
                let from_lock = picked.iter().filter(|&&g| locked(g)).count() as u32;
                joined.push((n, from_lock));
            }
            any_wf |= switch
                || joins
                || picked
                    .iter()
                    .any(|&g| self.cluster.gpu_workflow[g as usize] != wf);
            gpus.extend_from_slice(picked);
            if switch {
                switched.push((n, node.gpus - k));
            }
        }
        let ts = if switched.is_empty() { 0 } else { ts_time };
        if ts > 0 {
            switch_end = switch_end.max(self.now + ts);
        }
        let wf_time = if any_wf {
            self.workflow_switch_time(req, t)
        } else {
            0
        };
        // A job's model load needs no event of its own: it runs from the load's end (see
        // `Alloc::loading`). A replica's does, since its capacity counts from then.
        let job = matches!(req.target, Target::Job(_));
        let phase = if switch_end > self.now {
            Phase::TenantSwitch
        } else if wf_time > 0 && !job {
            Phase::WorkflowSwitch
        } else {
            Phase::Running
        };
        let run_start = if phase == Phase::Running {
            self.now + wf_time
        } else {
            Time::MAX
        };
        let rate = req.rate_on(&self.sc, t);
        let alloc = Alloc {
            target: req.target,
            tenant: req.tenant,
            workload: req.workload,
            kind: req.kind,
            workflow: wf,
            gpu_type: t,
            gpus,
            nodes: p.nodes,
            switched: if ts > 0 {
                switched.clone()
            } else {
                NodeList::new()
            },
            phase,
            phase_start: self.now,
            phase_end: if phase == Phase::TenantSwitch {
                switch_end
            } else {
                self.now + wf_time
            },
            workflow_switch: wf_time,
            loading: phase == Phase::Running && wf_time > 0,
            preemptible: req.preemptible,
            rate,
            placed_at: self.now,
        };
        let (id, generation) = self.allocs.insert(alloc);
        tracing::trace!(
            t_s = secs(self.now),
            alloc = id,
            workload = %self.sc.workloads[req.workload].name,
            gpu_type = %self.sc.gpu_types[t].name,
            gpus = self.allocs.get(id).expect("live").gpus.len(),
            tenant_switch = ts,
            workflow_switch = wf_time,
            "placed"
        );
        self.ledger.tenant_switches += switched.len() as u64;
        if any_wf {
            self.ledger.workflow_switches += 1;
        }
        let tenant = req.tenant;
        for &(n, k) in &joined {
            if k > 0 {
                self.join_switch(n, k);
            }
        }
        // The allocation's GPUs first, so that the free GPUs left on a node it re-provisions
        // are those still without an allocation.
        let placed = &self.allocs.get(id).expect("live").gpus;
        for &g in placed {
            self.cluster.gpu_alloc[g as usize] = id;
        }
        let state = self.allocs.get(id).expect("live").gpu_state();
        self.cluster
            .set_gpus_state(t, placed.iter().copied(), state);
        let size = self.allocs.get(id).expect("live").gpus.len() as u32;
        let until = self.now + ts;
        // Work that runs at once (or once loaded) is entered as running here, in the same node
        // update.
        let exempt_end = run_start.saturating_add(self.sc.preempt_exempt);
        let preemptible = req.preemptible;
        for i in 0..self.allocs.get(id).expect("live").nodes.len() {
            let (n, k) = self.allocs.get(id).expect("live").nodes[i];
            let sw = switched.iter().find(|s| s.0 == n).map(|s| s.1);
            let lock = if ts > 0 { sw.unwrap_or(0) } else { 0 };
            let from_lock = joined.iter().find(|j| j.0 == n).map_or(0, |j| j.1);
            self.cluster.update_node(n, |node| {
                node.tenant = Some(tenant);
                node.locked -= from_lock;
                node.free -= k - from_lock + lock;
                node.used += k;
                node.locked += lock;
                if sw.is_some() && ts > 0 {
                    node.switch_until = until;
                }
                node.allocs.push(id);
                node.alloc_gpus += size;
                if phase == Phase::Running {
                    node.exempt_end.push(exempt_end);
                    if preemptible {
                        node.evictable_at = node.evictable_at.max(exempt_end);
                    } else {
                        node.pinned += k;
                    }
                } else {
                    node.exempt_end.push(0);
                    node.pinned += k;
                }
            });
            if sw.is_some() {
                let node = &self.cluster.nodes[n as usize];
                for g in node.first_gpu..node.first_gpu + node.gpus {
                    self.cluster.gpu_workflow[g as usize] = NONE;
                }
            }
            if lock > 0 {
                let node = &self.cluster.nodes[n as usize];
                for g in node.first_gpu..node.first_gpu + node.gpus {
                    if self.cluster.gpu_alloc[g as usize] == NONE {
                        self.cluster.set_gpu_state(g, GpuState::TenantSwitch);
                    }
                }
            }
        }
        match req.target {
            Target::Job(j) => {
                self.stats.running_jobs += 1;
                let job = &mut self.jobs[j as usize];
                if job.start(self.now) {
                    self.stats.waits[req.kind as usize].push(self.now - job.arrival);
                }
            }
            Target::Replica(s) => {
                self.stats.replicas_started += 1;
                let svc = &mut self.services[s as usize];
                svc.starting.insert(id);
                svc.starting_cap += rate;
            }
        }
        if phase == Phase::Running {
            self.enter_running(id, false, run_start);
        } else {
            let end = self.allocs.get(id).expect("live").phase_end;
            self.push(Ev::Alloc(id, generation), end);
        }
    }

    /// Hands `k` GPUs of node `n`, locked by the tenant switch in progress there, from the
    /// allocation that started the switch to one joining it: the starter is charged their
    /// switch time so far, the joiner the rest.
    fn join_switch(&mut self, n: NodeId, k: u32) {
        let owner = self.cluster.nodes[n as usize]
            .allocs
            .iter()
            .copied()
            .find(|&id| {
                self.allocs
                    .get(id)
                    .is_some_and(|a| a.switched.iter().any(|s| s.0 == n && s.1 > 0))
            })
            .expect("a locked node has the allocation that locked it");
        let a = self.allocs.get_mut(owner).expect("live");
        let dt = (self.now - a.phase_start) as u128;
        for s in &mut a.switched {
            if s.0 == n {
                s.1 -= k;
            }
        }
        let (tenant, t, kind) = (a.tenant, a.gpu_type, a.kind);
        self.ledger
            .book_time(tenant, t, kind, GpuState::TenantSwitch, k as u128 * dt);
    }

    fn next_phase(&mut self, id: AllocId) {
        let a = self.allocs.get(id).expect("live");
        let phase = a.phase;
        if phase == Phase::Running {
            return self.release(id, End::Completed);
        }
        book_phase(&mut self.ledger, a, self.now);
        if phase == Phase::WorkflowSwitch {
            return self.enter_running(id, true, self.now);
        }
        let switched = std::mem::take(&mut self.allocs.get_mut(id).expect("live").switched);
        self.unlock(&switched);
        let a = self.allocs.get_mut(id).expect("live");
        a.phase_start = self.now;
        if a.workflow_switch == 0 || matches!(a.target, Target::Job(_)) {
            let run_start = self.now + a.workflow_switch;
            self.enter_running(id, true, run_start);
        } else {
            a.phase = Phase::WorkflowSwitch;
            a.phase_end = self.now + a.workflow_switch;
            let end = a.phase_end;
            self.cluster.set_gpus_state(
                a.gpu_type,
                a.gpus.iter().copied(),
                GpuState::WorkflowSwitch,
            );
            let generation = self.allocs.generation(id);
            self.push(Ev::Alloc(id, generation), end);
        }
    }

    /// Frees GPUs a tenant switch held on nodes it re-provisioned.
    fn unlock(&mut self, switched: &[(NodeId, u32)]) {
        for &(n, lock) in switched {
            if lock == 0 {
                continue;
            }
            let node = &self.cluster.nodes[n as usize];
            let t = node.gpu_type;
            let gpus: GpuList = (node.first_gpu..node.first_gpu + node.gpus)
                .filter(|&g| {
                    self.cluster.gpu_alloc[g as usize] == NONE
                        && self.cluster.gpu_state[g as usize] == GpuState::TenantSwitch
                })
                .collect();
            self.cluster.set_gpus_state(t, gpus, GpuState::Idle);
            self.cluster.update_node(n, |node| {
                node.locked -= lock;
                node.free += lock;
            });
            self.dirty = true;
        }
    }

    /// Starts an allocation's running phase; `switched` when it comes out of a switch phase
    /// (placed straight into running, its nodes already count it as running).
    /// A job may start running at `run_start` after now, once its model is loaded: it is
    /// `loading` until then, with no event for the load's end.
    fn enter_running(&mut self, id: AllocId, switched: bool, run_start: Time) {
        let now = self.now;
        let a = self.allocs.get_mut(id).expect("live");
        a.phase = Phase::Running;
        a.phase_start = run_start;
        a.loading = run_start > now;
        let (preemptible, target, rate, t) = (a.preemptible, a.target, a.rate, a.gpu_type);
        let wf = a.workflow;
        let n_gpus = a.gpus.len();
        if a.loading {
            // Its GPUs get the new workflow when it is released; until then the policies' view
            // derives it (`View::gpu_workflow`).
            if switched {
                let gpus = a.gpus.iter().copied();
                self.cluster
                    .set_gpus_state(t, gpus, GpuState::WorkflowSwitch);
            }
        } else {
            for &g in &a.gpus {
                self.cluster.gpu_workflow[g as usize] = wf;
            }
            self.cluster
                .set_gpus_state(t, a.gpus.iter().copied(), GpuState::Busy);
        }
        // A node's exemption ends with its last: a job still loading there may end its own
        // after this allocation's.
        let at = run_start.saturating_add(self.sc.preempt_exempt);
        let nodes = if switched { a.nodes.len() } else { 0 };
        for i in 0..nodes {
            let (n, k) = self.allocs.get(id).expect("live").nodes[i];
            let node = &mut self.cluster.nodes[n as usize];
            let pos = node.allocs.iter().position(|&x| x == id).expect("listed");
            node.exempt_end[pos] = at;
            if preemptible {
                self.cluster.update_node(n, |node| {
                    node.pinned -= k;
                    node.evictable_at = node.evictable_at.max(at);
                });
            }
        }
        match target {
            Target::Job(j) => {
                let job = &self.jobs[j as usize];
                let left = (job.tokens_total - job.tokens_done).max(0.0);
                let dur = ((left / rate) * 1e6).ceil().max(1.0) as Time;
                let a = self.allocs.get_mut(id).expect("live");
                a.phase_end = run_start.saturating_add(dur);
                let end = a.phase_end;
                let generation = self.allocs.generation(id);
                self.push(Ev::Alloc(id, generation), end);
            }
            Target::Replica(s) => {
                self.accrue_service(s);
                let svc = &mut self.services[s as usize];
                svc.starting.remove(&id);
                svc.starting_cap -= rate;
                svc.running.insert((efficiency_key(rate, n_gpus), id));
                svc.cap_by_type[t] += rate;
                self.allocs.get_mut(id).expect("live").phase_end = Time::MAX;
            }
        }
    }

    /// Tokens a running job has produced since its phase started, and the part that survives
    /// an interruption (up to the last checkpoint for training; all of it for batch).
    fn job_progress(&self, a: &Alloc, j: JobId) -> (f64, f64) {
        let job = &self.jobs[j as usize];
        // Nothing before a loading job's run starts.
        let elapsed = self.now.saturating_sub(a.phase_start);
        let produced = (a.rate * secs(elapsed))
            .min(job.tokens_total - job.tokens_done)
            .max(0.0);
        let saved = match &self.sc.workloads[a.workload].spec {
            Spec::Training(s) => {
                let ck = s.checkpoint_interval;
                (a.rate * secs(elapsed / ck * ck)).min(produced)
            }
            _ => produced,
        };
        (produced, saved)
    }

    fn release(&mut self, id: AllocId, why: End) {
        let a = self.allocs.remove(id).expect("live allocation");
        book_phase(&mut self.ledger, &a, self.now);
        if a.phase == Phase::TenantSwitch {
            self.unlock(&a.switched);
        }
        match a.target {
            Target::Job(j) => {
                // A completed job keeps what it had left, whatever it produced.
                let (produced, saved) = if a.phase == Phase::Running && why != End::Completed {
                    self.job_progress(&a, j)
                } else {
                    (0.0, 0.0)
                };
                let kept = if why == End::Completed {
                    let job = &self.jobs[j as usize];
                    job.tokens_total - job.tokens_done
                } else {
                    saved
                };
                self.ledger.book_tokens(a.tenant, a.gpu_type, a.kind, kept);
                if why != End::Completed {
                    self.ledger.tokens_lost += produced - saved;
                }
                self.stats.running_jobs -= 1;
                let job = &mut self.jobs[j as usize];
                job.tokens_done += kept;
                if why == End::Completed {
                    job.complete(self.now);
                    self.stats.completions[a.kind as usize].push(self.now - job.arrival);
                    self.stats.completed_jobs += 1;
                    self.retire_job(j);
                } else {
                    match why {
                        End::Preempted => job.preemptions += 1,
                        _ => {
                            job.failures += 1;
                            self.stats.jobs_interrupted += 1;
                        }
                    }
                    job.state = JobState::Queued;
                    let req = self.job_request(j);
                    self.enqueue(req);
                }
            }
            Target::Replica(s) => {
                if a.phase == Phase::Running {
                    self.accrue_service(s);
                    let svc = &mut self.services[s as usize];
                    svc.running
                        .remove(&(efficiency_key(a.rate, a.gpus.len()), id));
                    svc.cap_by_type[a.gpu_type] = (svc.cap_by_type[a.gpu_type] - a.rate).max(0.0);
                } else {
                    let svc = &mut self.services[s as usize];
                    svc.starting.remove(&id);
                    svc.starting_cap -= a.rate;
                }
                if why == End::Failed {
                    let req = self.replica_request(s);
                    self.enqueue(req);
                }
            }
        }
        let pinned = !a.preemptible || a.phase != Phase::Running;
        // A loading job that got to run leaves its workflow loaded.
        let loaded = a.loaded_by(self.now);
        for &g in &a.gpus {
            self.cluster.gpu_alloc[g as usize] = NONE;
            if loaded {
                self.cluster.gpu_workflow[g as usize] = a.workflow;
            }
        }
        self.cluster
            .set_gpus_state(a.gpu_type, a.gpus.iter().copied(), GpuState::Idle);
        for &(node, k) in &a.nodes {
            self.cluster.update_node(node, |nd| {
                nd.used -= k;
                nd.free += k;
                if pinned {
                    nd.pinned -= k;
                }
                let pos = nd.allocs.iter().position(|&x| x == id).expect("listed");
                nd.allocs.remove(pos);
                nd.exempt_end.remove(pos);
                nd.alloc_gpus -= a.gpus.len() as u32;
                // When all running work left here has run its preemption exemption.
                nd.evictable_at = nd.exempt_end.iter().copied().max().unwrap_or(0);
            });
        }
        self.dirty = true;
    }

    /// Closes the books at the horizon: open phases are charged up to now, running jobs keep
    /// the tokens produced so far (they would go on), services are integrated to the end.
    fn finish(&mut self) {
        for (_, a) in self.allocs.iter() {
            book_phase(&mut self.ledger, a, self.now);
        }
        let progress: Vec<(usize, TypeId, Kind, f64)> = self
            .allocs
            .iter()
            .filter_map(|(_, a)| match (a.phase, a.target) {
                (Phase::Running, Target::Job(j)) => {
                    Some((a.tenant, a.gpu_type, a.kind, self.job_progress(a, j).0))
                }
                _ => None,
            })
            .collect();
        for (tenant, t, kind, produced) in progress {
            self.ledger.book_tokens(tenant, t, kind, produced);
        }
        for s in 0..self.services.len() {
            self.accrue_service(s as ServiceId);
            self.services[s].close_demand_step(self.now);
        }
        // Jobs in the system at the horizon count in the wait and completion figures with their
        // time so far (censored), so work that never started is not left out of them.
        for job in &self.jobs {
            if matches!(job.state, JobState::Queued | JobState::Running) {
                let kind = self.sc.workloads[job.workload()].kind() as usize;
                let so_far = self.now.saturating_sub(job.arrival);
                if job.first_start().is_none() {
                    self.stats.waits[kind].push_censored(so_far);
                }
                self.stats.completions[kind].push_censored(so_far);
            }
        }
        self.close_held();
        self.finished = true;
    }

    /// Horizon in hours.
    pub fn horizon_hours(&self) -> f64 {
        self.sc.horizon as f64 / US_PER_HOUR as f64
    }
}
