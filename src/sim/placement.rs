//! Placement, phases and release: applying a validated placement, the tenant-switch and
//! workflow-switch phases (where switch costs are charged), the run, and the release of an
//! allocation when it completes or is preempted, scaled down or failed.

use super::alloc::{Alloc, AllocId, GpuList, Phase};
use super::job::JobState;
use super::request::{JobId, Request, Target};
use super::service::efficiency_key;
use crate::fleet::cluster::{GpuState, NONE};
use crate::fleet::{NodeId, TypeId};
use crate::policy::{NodeList, Placement, View};
use crate::units::{Time, secs};
use crate::workload::{Kind, Spec};

use super::books::book_phase;
use super::engine::{End, Engine, Ev};

/// What [`Engine::pick_gpus`] found for a placement.
struct Picked {
    gpus: GpuList,
    /// Nodes the placement re-provisions for its tenant, with the GPUs their switch locks.
    switched: NodeList,
    /// Nodes being re-provisioned for this tenant that the request joins, with the GPUs it
    /// takes there from the switch's lock: it starts when their switch ends.
    joined: NodeList,
    switch_end: Time,
    any_wf: bool,
}

/// How a new allocation holds its nodes, for [`Engine::occupy_nodes`].
struct Holding<'a> {
    switched: &'a NodeList,
    joined: &'a NodeList,
    ts: Time,
    phase: Phase,
    run_start: Time,
}

impl Engine {
    #[inline]
    pub(super) fn workflow_switch_time(&self, req: &Request, t: TypeId) -> Time {
        let ty = &self.sc.gpu_types[t];
        match self.sc.workloads[req.workload].model_gb() {
            Some(gb) => ty.model_load_time(gb),
            None => ty.training_restart,
        }
    }

    /// Applies a validated placement.
    #[inline]
    pub(super) fn place(&mut self, req: &Request, p: Placement) {
        let t = p.gpu_type;
        let wf = req.workflow(&self.sc);
        let ty = &self.sc.gpu_types[t];
        let ts_time = ty.tenant_switch;
        let Picked {
            gpus,
            switched,
            joined,
            mut switch_end,
            any_wf,
        } = self.pick_gpus(req, &p, wf);
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
            waited_s = secs(self.now.saturating_sub(req.arrival)),
            "placed"
        );
        self.ledger.tenant_switches += switched.len() as u64;
        if any_wf {
            self.ledger.workflow_switches += 1;
        }
        let held = Holding {
            switched: &switched,
            joined: &joined,
            ts,
            phase,
            run_start,
        };
        self.occupy_nodes(id, req, &held);
        match req.target {
            Target::Job(j) => {
                self.stats.running_jobs += 1;
                let job = &mut self.jobs[j as usize];
                if job.start(self.now) {
                    let wait = self.now - job.arrival;
                    self.stats.waits[req.kind as usize].push(wait);
                    if req.kind == Kind::Training {
                        self.stats.training_waits[req.tenant].push(wait);
                    }
                }
            }
            Target::Replica(s) => {
                self.stats.replicas_started += 1;
                let gpus = self.allocs.get(id).expect("live").gpus.len() as u64;
                let svc = &mut self.services[s as usize];
                svc.starting.insert(id);
                svc.starting_cap += rate;
                svc.hold_change(self.now, gpus, true);
            }
        }
        if phase == Phase::Running {
            self.enter_running(id, false, run_start);
        } else {
            let end = self.allocs.get(id).expect("live").phase_end;
            self.push(Ev::Alloc(id, generation), end);
        }
    }

    /// The GPUs a validated placement takes on each node (those that hold the workflow first,
    /// then free ones before locked ones), the nodes it re-provisions and those whose switch
    /// it joins, when its switches end, and whether it must load its workflow.
    #[inline]
    fn pick_gpus(&mut self, req: &Request, p: &Placement, wf: u32) -> Picked {
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
            // The GPUs without an allocation, each keyed once by its order of preference:
            // those that already hold this workflow first (they need no load), then free ones
            // before those a switch locks, then by id.
            const NEEDS_LOAD: u64 = 2 << 32;
            const LOCKED: u64 = 1 << 32;
            let free = &mut self.scratch;
            free.clear();
            free.extend(
                (node.first_gpu..node.first_gpu + node.gpus)
                    .filter(|&g| self.cluster.gpu[g as usize].alloc == NONE)
                    .map(|g| {
                        let load = self.cluster.gpu[g as usize].workflow != wf;
                        let locked = self.cluster.gpu_state[g as usize] == GpuState::TenantSwitch;
                        load as u64 * NEEDS_LOAD + locked as u64 * LOCKED + g as u64
                    }),
            );
            free.sort_unstable();
            let picked = &free[..k as usize];
            if joins {
                let from_lock = picked.iter().filter(|&&x| x & LOCKED != 0).count() as u32;
                joined.push((n, from_lock));
            }
            any_wf |= switch || joins || picked.iter().any(|&x| x & NEEDS_LOAD != 0);
            gpus.extend(picked.iter().map(|&x| x as u32));
            if switch {
                switched.push((n, node.gpus - k));
            }
        }
        Picked {
            gpus,
            switched,
            joined,
            switch_end,
            any_wf,
        }
    }

    /// Enters a new allocation on its nodes and GPUs: hands over the GPUs it takes from a
    /// switch it joins, starts the switches it begins (locking the nodes' other GPUs), and
    /// counts its GPUs as used, pinned or evictable.
    #[inline]
    fn occupy_nodes(&mut self, id: AllocId, req: &Request, h: &Holding) {
        let (switched, joined, ts, phase, run_start) =
            (h.switched, h.joined, h.ts, h.phase, h.run_start);
        let t = self.allocs.get(id).expect("live").gpu_type;
        let tenant = req.tenant;
        for &(n, k) in joined {
            if k > 0 {
                self.join_switch(n, k);
            }
        }
        // The allocation's GPUs first, so that the free GPUs left on a node it re-provisions
        // are those still without an allocation.
        let placed = &self.allocs.get(id).expect("live").gpus;
        for &g in placed {
            self.cluster.gpu[g as usize].alloc = id;
        }
        let state = self.allocs.get(id).expect("live").gpu_state();
        self.cluster
            .set_gpus_state(t, placed.iter().copied(), state);
        let size = self.allocs.get(id).expect("live").gpus.len() as u32;
        // The tenant holds (and pays for) its GPUs once any tenant switch is over; until
        // then they count as work it waits for.
        let meter = &mut self.ledger.meters[tenant];
        if phase != Phase::TenantSwitch {
            meter.held_change(self.now, t, size as u64, true);
        } else {
            meter.switching_change(self.now, size as u64, true);
        }
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
                node.alloc_gpus += size;
                if phase == Phase::Running {
                    node.holders.push((id, exempt_end));
                    if preemptible {
                        node.evictable_at = node.evictable_at.max(exempt_end);
                    } else {
                        node.pinned += k;
                    }
                } else {
                    node.holders.push((id, 0));
                    node.pinned += k;
                }
            });
            if sw.is_some() {
                let node = &self.cluster.nodes[n as usize];
                for g in node.first_gpu..node.first_gpu + node.gpus {
                    self.cluster.gpu[g as usize].workflow = NONE;
                }
            }
            if lock > 0 {
                let node = &self.cluster.nodes[n as usize];
                for g in node.first_gpu..node.first_gpu + node.gpus {
                    if self.cluster.gpu[g as usize].alloc == NONE {
                        self.cluster.set_gpu_state(g, GpuState::TenantSwitch);
                    }
                }
            }
        }
    }

    /// Hands `k` GPUs of node `n`, locked by the tenant switch in progress there, from the
    /// allocation that started the switch to one joining it: the starter is charged their
    /// switch time so far, the joiner the rest.
    #[inline]
    pub(super) fn join_switch(&mut self, n: NodeId, k: u32) {
        let owner = self.cluster.nodes[n as usize]
            .allocs()
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
        let (tenant, t, kind, start) = (a.tenant, a.gpu_type, a.kind, a.phase_start);
        self.ledger
            .book_time(tenant, t, kind, GpuState::TenantSwitch, k as u128 * dt);
        let ts = GpuState::TenantSwitch;
        self.ledger
            .book_energy(t, ts, kind, k as u64, start, self.now);
    }

    #[inline]
    pub(super) fn next_phase(&mut self, id: AllocId) {
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
        // Out of its tenant switch: the tenant holds (and pays for) its GPUs from here.
        let (tenant, t, size) = (a.tenant, a.gpu_type, a.gpus.len() as u64);
        let meter = &mut self.ledger.meters[tenant];
        meter.switching_change(self.now, size, false);
        meter.held_change(self.now, t, size, true);
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
    #[inline]
    pub(super) fn unlock(&mut self, switched: &[(NodeId, u32)]) {
        for &(n, lock) in switched {
            if lock == 0 {
                continue;
            }
            let node = &self.cluster.nodes[n as usize];
            let t = node.gpu_type;
            let gpus: GpuList = (node.first_gpu..node.first_gpu + node.gpus)
                .filter(|&g| {
                    self.cluster.gpu[g as usize].alloc == NONE
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
    #[inline]
    pub(super) fn enter_running(&mut self, id: AllocId, switched: bool, run_start: Time) {
        let now = self.now;
        let a = self.allocs.get_mut(id).expect("live");
        // The state its GPUs leave: placed running, they are in the one it enters already.
        let from = a.gpu_state();
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
                (self.cluster).move_gpus_state(t, gpus, from, GpuState::WorkflowSwitch);
            }
        } else {
            for &g in &a.gpus {
                self.cluster.gpu[g as usize].workflow = wf;
            }
            if switched {
                let gpus = a.gpus.iter().copied();
                (self.cluster).move_gpus_state(t, gpus, from, GpuState::Busy);
            }
        }
        // A node's exemption ends with its last: a job still loading there may end its own
        // after this allocation's.
        let at = run_start.saturating_add(self.sc.preempt_exempt);
        let nodes = if switched { a.nodes.len() } else { 0 };
        for i in 0..nodes {
            let (n, k) = self.allocs.get(id).expect("live").nodes[i];
            let node = &mut self.cluster.nodes[n as usize];
            let pos = node.holders.iter().position(|h| h.0 == id).expect("listed");
            node.holders[pos].1 = at;
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
    #[inline]
    pub(super) fn job_progress(&self, a: &Alloc, j: JobId) -> (f64, f64) {
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

    #[inline]
    pub(super) fn release(&mut self, id: AllocId, why: End) {
        if self.sc.migration {
            // A move booked for this allocation will not happen.
            let generation = self.allocs.generation(id);
            self.migrating.remove(&(id, generation));
        }
        let a = self.allocs.remove(id).expect("live allocation");
        book_phase(&mut self.ledger, &a, self.now);
        let gpus = a.gpus.len() as u64;
        let meter = &mut self.ledger.meters[a.tenant];
        if a.phase != Phase::TenantSwitch {
            meter.held_change(self.now, a.gpu_type, gpus, false);
        } else {
            meter.switching_change(self.now, gpus, false);
        }
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
                let work_rate = self.sc.workloads[a.workload].work_rate;
                (self.ledger).book_tokens(a.tenant, a.gpu_type, a.kind, kept, work_rate);
                if why != End::Completed {
                    self.ledger.tokens_lost += produced - saved;
                }
                self.stats.running_jobs -= 1;
                let job = &mut self.jobs[j as usize];
                job.tokens_done += kept;
                if why == End::Completed {
                    job.complete(self.now);
                    self.stats.completions[a.kind as usize].push(self.now - job.arrival);
                    self.stats.last_completion[a.kind as usize] = Some(self.now);
                    self.stats.completed_jobs += 1;
                    self.retire_job(j);
                } else if why == End::Migrated {
                    // Placed again at once by the caller; never queued.
                    job.state = JobState::Queued;
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
                (self.services[s as usize]).hold_change(self.now, a.gpus.len() as u64, false);
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
            self.cluster.gpu[g as usize].alloc = NONE;
            if loaded {
                self.cluster.gpu[g as usize].workflow = a.workflow;
            }
        }
        let gpus = a.gpus.iter().copied();
        (self.cluster).move_gpus_state(a.gpu_type, gpus, a.gpu_state(), GpuState::Idle);
        for &(node, k) in &a.nodes {
            self.cluster.update_node(node, |nd| {
                nd.used -= k;
                nd.free += k;
                if pinned {
                    nd.pinned -= k;
                }
                let pos = nd.holders.iter().position(|h| h.0 == id).expect("listed");
                nd.holders.remove(pos);
                nd.alloc_gpus -= a.gpus.len() as u32;
                // When all running work left here has run its preemption exemption.
                nd.evictable_at = nd.holders.iter().map(|h| h.1).max().unwrap_or(0);
            });
        }
        self.dirty = true;
    }
}

impl Engine {
    /// Asks the policy which running training jobs to move, and books each move for the
    /// job's next checkpoint (if it comes before the job ends and none is booked yet).
    pub(super) fn plan_migrations(&mut self) {
        let ids = {
            let view = view!(self);
            self.policy.migrations(&view)
        };
        for id in ids {
            let Some(a) = self.allocs.get(id) else {
                continue;
            };
            let Spec::Training(s) = &self.sc.workloads[a.workload].spec else {
                continue;
            };
            let generation = self.allocs.generation(id);
            if a.phase != Phase::Running || self.migrating.contains(&(id, generation)) {
                continue;
            }
            let ck = s.checkpoint_interval.max(1);
            let done = self.now.saturating_sub(a.phase_start);
            let at = a.phase_start + done.div_ceil(ck) * ck;
            if at >= a.phase_end || at >= self.sc.horizon {
                continue;
            }
            self.migrating.insert((id, generation));
            self.push(Ev::Migrate(id, generation), at);
        }
    }

    /// At a job's checkpoint: moves it if the policy, asked for the job now, places it on a
    /// type faster per GPU than the one it runs on. Nothing trained is lost (the checkpoint
    /// is now); the new allocation pays its restart, as any placement of a training job.
    pub(super) fn migrate(&mut self, id: AllocId) -> Result<(), crate::sim::SimError> {
        self.migrating.remove(&(id, self.allocs.generation(id)));
        let a = self.allocs.get(id).expect("current");
        let Target::Job(j) = a.target else {
            return Ok(());
        };
        if a.phase != Phase::Running {
            return Ok(());
        }
        let (from, workload) = (a.gpu_type, a.workload);
        let req = self.job_request(j);
        let decision = {
            let view = view!(self);
            self.policy.place(&view, &req)
        };
        let crate::policy::Decision::Place(p) = decision else {
            return Ok(());
        };
        // The move must pay for itself on the type offered, not only on the one that made it
        // worth booking.
        let a = self.allocs.get(id).expect("current");
        if !crate::policy::migrate::pays(&self.sc, a, p.gpu_type, self.now) {
            return Ok(());
        }
        let w = &self.sc.workloads[workload];
        self.validate(&req, &p)?;
        tracing::debug!(t_s = secs(self.now), from = %self.sc.gpu_types[from].name, to = %self.sc.gpu_types[p.gpu_type].name, workload = %w.name, "migrating");
        self.release(id, End::Migrated);
        // The request again, with what the job has left after the release booked its tokens.
        let req = self.job_request(j);
        self.place(&req, p);
        self.stats.migrations += 1;
        self.dirty = true;
        Ok(())
    }
}
