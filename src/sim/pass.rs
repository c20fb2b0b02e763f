//! The placement pass and validation: offering each class's head to the policy in queue
//! order, applying its preemptions, and checking each decision against the fleet before it
//! is applied. Touches the queue through the engine's queue operations and nothing else.

use super::alloc::{Alloc, AllocId};
use super::request::{QueueKey, Request};
use crate::fleet::{NodeId, Shape};
use crate::policy::{Decision, Placement, View};
use crate::units::secs;

use super::engine::{End, Engine, MAX_PASSES_PER_INSTANT, MAX_WAITING_GANGS, SimError};
use crate::state::rules::reserved;
use crate::state::{victims_allowed, within_quota};
use crate::workload::Kind;

impl Engine {
    /// One scheduling pass (repeated while it places work and frees more): the head of each
    /// class of identical requests is offered to the policy in queue order; a class whose head
    /// must wait is skipped for the rest of the pass.
    pub(super) fn schedule(&mut self) -> Result<(), SimError> {
        // Passes repeat while one places work and frees more; a bound keeps a policy that
        // keeps evicting and re-placing at one instant from spinning (the next event retries).
        self.cluster.promote(self.now);
        for _ in 0..MAX_PASSES_PER_INSTANT {
            self.dirty = false;
            self.waiting_gangs.clear();
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
                    self.note_waiting(&req);
                    continue;
                }
                if self.offer(key, &req)? {
                    placed_any = true;
                    if let Some(next) = self.queue.next_in_class(&key) {
                        heads.push_increase(next);
                    }
                } else {
                    self.note_waiting(&req);
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

    /// Records a request the pass could not place, if it is a training gang wider than one
    /// node on some type it runs on, for the requests behind it ([`View::waiting`]).
    fn note_waiting(&mut self, req: &Request) {
        if req.kind != Kind::Training || self.waiting_gangs.len() >= MAX_WAITING_GANGS {
            return;
        }
        let wide = (0..self.sc.gpu_types.len()).any(|t| {
            req.gpus_on(&self.sc, t)
                .is_some_and(|g| g > self.sc.gpu_types[t].node_gpus)
        });
        if wide {
            tracing::trace!(t_s = secs(self.now), workload = %self.sc.workloads[req.workload].name, gpus = req.gang, free = ?(0..self.sc.gpu_types.len()).map(|t| self.cluster.free_gpus(t)).collect::<Vec<_>>(), idle_nodes = ?(0..self.sc.gpu_types.len()).map(|t| self.cluster.idle_node_count(t)).collect::<Vec<_>>(), "gang waits");
            self.waiting_gangs.push(req.clone());
        }
    }

    /// Offers one request to the policy; returns whether it was placed.
    #[inline]
    pub(super) fn offer(&mut self, key: QueueKey, req: &Request) -> Result<bool, SimError> {
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
    #[inline]
    pub(super) fn could_preempt_for(&self, req: &Request) -> bool {
        let yields = !req.preemptible && self.cluster.has_preemptible();
        // Every policy reclaims borrowed GPUs for a tenant within its reservation, preemptible
        // work or not: that is what makes the reservation a guarantee.
        let reclaim = within_quota(&self.sc, &self.cluster, req)
            && (0..self.sc.tenants.len())
                .any(|t| t != req.tenant && self.cluster.occupied()[t] > reserved(&self.sc, t));
        yields || reclaim
    }

    /// Whether some tenant holds more GPUs than it reserved (so a reclaim is possible).
    #[inline]
    pub(super) fn anyone_borrowing(&self) -> bool {
        (0..self.sc.tenants.len()).any(|t| self.cluster.occupied()[t] > reserved(&self.sc, t))
    }

    pub(super) fn invalid(&self, reason: &str) -> SimError {
        SimError::InvalidDecision {
            policy: self.policy.name().into(),
            at_s: secs(self.now),
            reason: reason.into(),
        }
    }

    #[inline]
    pub(super) fn validate(&self, req: &Request, p: &Placement) -> Result<(), SimError> {
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
}
