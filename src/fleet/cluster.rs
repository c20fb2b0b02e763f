//! Cluster state: every node and GPU with its state and last context, plus the indexes that
//! let placement find candidates without scanning the fleet: bitsets of idle nodes by type and
//! by last tenant, partly used nodes by tenant, preemptible and evictable nodes (with a queue
//! of exemption ends), max trees and bitsets of NVLink domains by idle and reclaimable nodes,
//! and, for the policy that asks, nodes ordered by what evicting their work would cost.

use std::collections::BTreeSet;

use super::TenantId;
use super::bitset::BitSet;
use super::exempt::ExemptQueue;
use super::{GpuType, Pool, TypeId};

pub type NodeId = u32;
pub type DomainId = u32;
pub type GpuId = u32;
/// Marks "no workflow loaded" and "no allocation".
pub const NONE: u32 = u32::MAX;

/// The one state a GPU is in at any instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GpuState {
    Idle = 0,
    TenantSwitch = 1,
    WorkflowSwitch = 2,
    Busy = 3,
    Down = 4,
}

pub const N_STATES: usize = 5;
pub const ALL_STATES: [GpuState; N_STATES] = [
    GpuState::Idle,
    GpuState::TenantSwitch,
    GpuState::WorkflowSwitch,
    GpuState::Busy,
    GpuState::Down,
];

/// A node's holders, inline up to eight: a node holds at most one allocation per GPU, so on
/// nodes of up to 8 GPUs (every shipped type) the list never leaves the node, and reading it
/// costs no cache miss beyond the node's own (nodes full of 1-GPU batch jobs kept theirs on
/// the heap when only two were inline).
pub type Holders = smallvec::SmallVec<[(u32, crate::units::Time); 8]>;

/// What a GPU holds, beside its state ([`Cluster::gpu`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuSlot {
    /// Allocation holding the GPU (`NONE` if free).
    pub alloc: u32,
    /// Workflow last loaded on the GPU (`NONE` if nothing is loaded).
    pub workflow: u32,
}

/// How a node can be used right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeClass {
    /// Down.
    Unavailable,
    /// Every GPU free: any tenant may take it (paying a tenant switch if it is not its own).
    Idle,
    /// Some GPUs held by its tenant (or being re-provisioned for it), some free: only that
    /// tenant may add work.
    Partial,
    /// Every GPU held.
    Full,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub gpu_type: TypeId,
    pub domain: DomainId,
    pub first_gpu: GpuId,
    pub gpus: u32,
    /// Tenant whose image the node carries; `None` before its first use.
    pub tenant: Option<TenantId>,
    /// GPUs idle and allocatable.
    pub free: u32,
    /// GPUs held by allocations.
    pub used: u32,
    /// Unallocated GPUs held by a tenant switch in progress (re-provisioning for `tenant`; more
    /// of that tenant's work may join them).
    pub locked: u32,
    /// When the tenant switch in progress ends.
    pub switch_until: crate::units::Time,
    pub down: bool,
    /// GPUs held by allocations that may not be preempted (guaranteed, or still switching).
    pub pinned: u32,
    /// Allocations holding GPUs here, in order of placement, each with when it has run its
    /// `preempt_exempt` time if it is running, else 0 (kept by the engine, so the node's
    /// `evictable_at` needs no allocation lookups). One list, not two: a placement or release
    /// on a node in a large fleet then misses the cache once for it, not twice.
    pub holders: Holders,
    /// GPUs of the allocations in `holders`, all of them (a gang spanning nodes counts whole):
    /// what evicting everything here costs.
    pub alloc_gpus: u32,
    /// When the running preemptible work here has all run its `preempt_exempt` time (kept by
    /// the engine; meaningful while the node is preemptible).
    pub evictable_at: crate::units::Time,
}

impl Node {
    /// The allocations holding GPUs here, in order of placement.
    pub fn allocs(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.holders.iter().map(|h| h.0)
    }

    pub fn class(&self) -> NodeClass {
        if self.down {
            NodeClass::Unavailable
        } else if self.used == 0 && self.locked == 0 {
            NodeClass::Idle
        } else if self.free + self.locked > 0 {
            NodeClass::Partial
        } else {
            NodeClass::Full
        }
    }

    /// GPUs of this node that tenant `t` could be given now: all of an idle node; the free GPUs
    /// of a partly used node of its own, including GPUs being re-provisioned for it (work placed
    /// there starts when the switch ends).
    pub fn usable_by(&self, t: TenantId) -> u32 {
        match self.class() {
            NodeClass::Idle => self.gpus,
            NodeClass::Partial if self.tenant == Some(t) => self.free + self.locked,
            _ => 0,
        }
    }

    /// Every holder is preemptible and running: preempting them all frees the node.
    pub fn preemptible(&self) -> bool {
        !self.down && self.locked == 0 && self.used > 0 && self.pinned == 0
    }
}

#[derive(Clone, Debug)]
pub struct Domain {
    pub gpu_type: TypeId,
    pub first_node: NodeId,
    pub nodes: u32,
    /// Idle nodes (counted only where domains have several nodes: read
    /// [`Cluster::idle_nodes_in`]).
    idle_nodes: u32,
    /// Preemptible nodes past their exemption (see [`Cluster::promote`]; counted only where
    /// domains have several nodes).
    evictable_nodes: u32,
    /// Position among the domains of its type (index into that type's tree).
    pub local: u32,
}

/// Max segment tree: finds the first slot whose value is at least k in O(log n).
#[derive(Clone, Debug, Default)]
struct MaxTree {
    size: usize,
    t: Vec<u32>,
}

impl MaxTree {
    fn new(n: usize) -> Self {
        let size = n.next_power_of_two().max(1);
        MaxTree {
            size,
            t: vec![0; 2 * size],
        }
    }
    fn set(&mut self, i: usize, v: u32) {
        let mut x = i + self.size;
        if self.t[x] == v {
            return;
        }
        self.t[x] = v;
        // Ancestors change only up to the first whose maximum stays the same.
        while x > 1 {
            x /= 2;
            let m = self.t[2 * x].max(self.t[2 * x + 1]);
            if self.t[x] == m {
                break;
            }
            self.t[x] = m;
        }
    }
    fn first_at_least(&self, k: u32) -> Option<usize> {
        self.first_at_least_from(k, 0)
    }
    /// The first slot at or after `start` whose value is at least `k` (`k` > 0, so the padding
    /// slots never qualify).
    fn first_at_least_from(&self, k: u32, start: usize) -> Option<usize> {
        debug_assert!(k > 0);
        if start >= self.size || self.t.len() < 2 {
            return None;
        }
        let mut x = start + self.size;
        // Climb to the first subtree at or right of `start` whose maximum reaches `k`.
        while self.t[x] < k {
            while x & 1 == 1 {
                x >>= 1;
                if x == 0 {
                    return None;
                }
            }
            x += 1;
        }
        while x < self.size {
            x = if self.t[2 * x] >= k { 2 * x } else { 2 * x + 1 };
        }
        Some(x - self.size)
    }
}

/// What a node contributes to the indexes (see [`Cluster::reindex`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The tenant whose quota counts the node.
    occupant: Option<TenantId>,
    /// Its last tenant's slot in the per-tenant indexes.
    slot: usize,
    class: NodeClass,
    /// GPUs that count as free: free and locked ones, none while down.
    free: u32,
    preemptible: bool,
    evictable_at: crate::units::Time,
    /// Its key in `by_cost` and whether it holds pinned work, if it is there.
    cost: Option<(CostKey, bool)>,
}

/// Where a node sorts among eviction candidates: the power of two of the GPUs of the
/// allocations on it (a gang counts whole; see [`cost_bucket`]), then the node.
pub type CostKey = (u32, NodeId);

/// Buckets of the eviction cost index: victim GPUs 1, 2-3, 4-7, ..., and 2^14 or more.
pub const COST_BUCKETS: usize = 16;

/// The cost bucket of evicting allocations of `alloc_gpus` GPUs in all: floor(log2), capped.
pub fn cost_bucket(alloc_gpus: u32) -> u32 {
    (u32::BITS - 1 - alloc_gpus.max(1).leading_zeros()).min(COST_BUCKETS as u32 - 1)
}

/// Per-GPU-type indexes.
#[derive(Clone, Debug, Default)]
struct TypeIndex {
    idle: BitSet,
    /// Idle nodes by the tenant they last served (slot per tenant, the last for never used).
    idle_by_tenant: Vec<BitSet>,
    /// Partly used nodes by their tenant and their usable (free and locked) GPUs: a request
    /// that must fit on one node finds one that holds it without walking those that do not.
    partial_by_free: Vec<Vec<BitSet>>,
    /// Free GPUs on partly used nodes, per tenant.
    partial_free: Vec<u32>,
    /// Idle nodes per last tenant (the last slot counts never-used nodes).
    idle_count: Vec<u32>,
    preemptible: BitSet,
    /// GPUs on the nodes in `preemptible`.
    preemptible_gpus: u64,
    /// Preemptible nodes whose exemption had ended at the last [`Cluster::promote`], in fleet
    /// order (victim searches walk only these).
    evictable: BitSet,
    evictable_gpus: u64,
    /// The same nodes by tenant, and their GPUs per tenant.
    evictable_by_tenant: Vec<BitSet>,
    evictable_gpus_of: Vec<u64>,
    /// The other preemptible nodes by when their exemption ends. Entries are not removed when
    /// a node changes (that would be a search); [`Cluster::promote`] skips those that no
    /// longer match.
    exempt: ExemptQueue,
    /// Nodes that evicting all their work would free (held, up, no tenant switch in
    /// progress), per tenant, by cost bucket ([`cost_bucket`]). Slot 0 holds nodes of only
    /// running preemptible work, slot 1 the others. A bitset per bucket: a node changes bucket
    /// far less often than its exact cost, and a bit flip costs far less than an ordered-set
    /// update. Kept only when asked for ([`Cluster::keep_eviction_cost_index`]).
    by_cost: Vec<[Vec<BitSet>; 2]>,
    domains: Vec<DomainId>,
    /// Whether the per-domain counts, trees and sets below are kept: only where a domain has
    /// several nodes. Where it is one node (HGX) they would repeat the node sets, and keeping
    /// them cost a cache miss or two on every change of a node in a large fleet.
    per_domain: bool,
    domain_tree: MaxTree,
    /// Idle plus evictable nodes per domain (what a victim search could free there).
    reclaim_tree: MaxTree,
    /// Domains by their number of idle nodes (slot 0 unused), each set in fleet order.
    domains_by_idle: Vec<BitSet>,
    free_gpus: u64,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub types: Vec<GpuType>,
    pub nodes: Vec<Node>,
    pub domains: Vec<Domain>,
    pub gpu_state: Vec<GpuState>,
    /// Per GPU, the allocation holding it and the workflow last loaded on it, side by side:
    /// placement and release read and write both for each GPU they touch, and a node's
    /// eight then share one cache line (the states stay apart, a byte each, for the
    /// per-state counts).
    pub gpu: Vec<GpuSlot>,
    /// Node of each GPU.
    gpu_node: Vec<NodeId>,
    /// GPUs per type per state.
    pub state_count: Vec<[u64; N_STATES]>,
    idx: Vec<TypeIndex>,
    pub type_gpus: Vec<u32>,
    /// `0..types.len()`, for callers that want the types as a slice.
    type_ids: Vec<TypeId>,
    /// GPUs of the nodes each tenant occupies (holds work on, or is re-provisioning): a partly
    /// used node counts whole, since no other tenant can use it. Quotas are measured in this.
    occupied: Vec<u64>,
    /// Time of the last [`Cluster::promote`].
    promoted_at: crate::units::Time,
    /// Whether `by_cost` is kept (see [`Cluster::keep_eviction_cost_index`]).
    cost_index: bool,
}

impl Cluster {
    pub fn new(types: &[GpuType], pools: &[Pool], tenants: usize) -> Self {
        let mut c = Cluster {
            types: types.to_vec(),
            nodes: Vec::new(),
            domains: Vec::new(),
            gpu_state: Vec::new(),
            gpu: Vec::new(),
            gpu_node: Vec::new(),
            state_count: vec![[0; N_STATES]; types.len()],
            idx: vec![TypeIndex::default(); types.len()],
            type_gpus: vec![0; types.len()],
            type_ids: (0..types.len()).collect(),
            occupied: vec![0; tenants],
            promoted_at: 0,
            cost_index: false,
        };
        let mut gpu: GpuId = 0;
        for pool in pools {
            let ty = &types[pool.gpu_type];
            let dn = ty.domain_nodes();
            for _ in 0..pool.gpus / ty.nvlink_domain_gpus {
                let d = c.domains.len() as DomainId;
                let local = c.idx[pool.gpu_type].domains.len() as u32;
                c.idx[pool.gpu_type].domains.push(d);
                c.domains.push(Domain {
                    gpu_type: pool.gpu_type,
                    first_node: c.nodes.len() as NodeId,
                    nodes: dn,
                    idle_nodes: 0,
                    evictable_nodes: 0,
                    local,
                });
                for _ in 0..dn {
                    c.nodes.push(Node {
                        gpu_type: pool.gpu_type,
                        domain: d,
                        first_gpu: gpu,
                        gpus: ty.node_gpus,
                        tenant: None,
                        free: ty.node_gpus,
                        used: 0,
                        locked: 0,
                        switch_until: 0,
                        down: false,
                        pinned: 0,
                        holders: Holders::new(),
                        alloc_gpus: 0,
                        evictable_at: 0,
                    });
                    gpu += ty.node_gpus;
                }
            }
            c.type_gpus[pool.gpu_type] += pool.gpus;
            c.state_count[pool.gpu_type][GpuState::Idle as usize] += pool.gpus as u64;
        }
        c.gpu_state = vec![GpuState::Idle; gpu as usize];
        c.gpu = vec![
            GpuSlot {
                alloc: NONE,
                workflow: NONE
            };
            gpu as usize
        ];
        c.gpu_node = c
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| std::iter::repeat_n(i as NodeId, n.gpus as usize))
            .collect();
        c.reset_indexes();
        for n in 0..c.nodes.len() as NodeId {
            c.index(n);
        }
        c
    }

    /// Empties every index, sized for this fleet, and the per-domain and per-tenant counts
    /// they keep (before indexing every node afresh).
    fn reset_indexes(&mut self) {
        let (nodes, domains) = (self.nodes.len(), self.domains.len());
        let slots = self.occupied.len() + 1;
        for (t, ix) in self.idx.iter_mut().enumerate() {
            let per_domain = self.types[t].domain_nodes() > 1;
            let local = if per_domain { ix.domains.len() } else { 0 };
            *ix = TypeIndex {
                idle: BitSet::new(nodes),
                idle_by_tenant: vec![BitSet::new(nodes); slots],
                partial_by_free: vec![
                    vec![BitSet::new(nodes); self.types[t].node_gpus as usize + 1];
                    slots
                ],
                partial_free: vec![0; slots],
                idle_count: vec![0; slots],
                preemptible: BitSet::new(nodes),
                preemptible_gpus: 0,
                evictable: BitSet::new(nodes),
                evictable_gpus: 0,
                evictable_by_tenant: vec![BitSet::new(nodes); slots],
                evictable_gpus_of: vec![0; slots],
                exempt: ExemptQueue::default(),
                by_cost: if self.cost_index {
                    let b = vec![BitSet::new(nodes); COST_BUCKETS];
                    vec![[b.clone(), b]; slots]
                } else {
                    Vec::new()
                },
                domains: std::mem::take(&mut ix.domains),
                per_domain,
                domain_tree: MaxTree::new(local),
                reclaim_tree: MaxTree::new(local),
                domains_by_idle: if per_domain {
                    vec![BitSet::new(domains); self.types[t].domain_nodes() as usize + 1]
                } else {
                    Vec::new()
                },
                free_gpus: 0,
            };
        }
        for d in &mut self.domains {
            d.idle_nodes = 0;
            d.evictable_nodes = 0;
        }
        self.occupied.iter_mut().for_each(|x| *x = 0);
    }

    /// Keeps (or drops) the index behind [`Self::nodes_by_eviction_cost`], rebuilding every
    /// index from the nodes.
    pub fn keep_eviction_cost_index(&mut self, on: bool) {
        self.cost_index = on;
        self.reset_indexes();
        for n in 0..self.nodes.len() as NodeId {
            self.index(n);
        }
    }

    /// The GPU types, in config order.
    pub fn type_ids(&self) -> &[TypeId] {
        &self.type_ids
    }

    pub fn gpus(&self) -> u64 {
        self.gpu_state.len() as u64
    }

    fn occupant(n: &Node) -> Option<TenantId> {
        n.tenant.filter(|_| !n.down && (n.used > 0 || n.locked > 0))
    }

    /// What node `id` contributes to the indexes now.
    fn entry(&self, id: NodeId) -> Entry {
        let n = &self.nodes[id as usize];
        Entry {
            occupant: Self::occupant(n),
            slot: slot_of(n.tenant, self.occupied.len() + 1),
            class: n.class(),
            free: if n.down { 0 } else { n.free + n.locked },
            preemptible: n.preemptible(),
            evictable_at: n.evictable_at,
            cost: Self::cost_key(n, id)
                .filter(|_| self.cost_index)
                .map(|k| (k, n.pinned > 0)),
        }
    }

    fn index(&mut self, id: NodeId) {
        let new = self.entry(id);
        self.reindex(id, None, &new);
    }

    /// Moves node `id` in every index from what it contributed (`old`; `None` if it was not
    /// indexed) to `new`, touching only the indexes whose part changed: most changes move a
    /// node between few of them, and each touch of a domain or a tree is a likely cache miss
    /// in a large fleet.
    fn reindex(&mut self, id: NodeId, old: Option<&Entry>, new: &Entry) {
        let gpus = self.nodes[id as usize].gpus;
        let old_occupant = old.and_then(|o| o.occupant);
        if old_occupant != new.occupant {
            if let Some(t) = old_occupant {
                self.occupied[t] -= gpus as u64;
            }
            if let Some(t) = new.occupant {
                self.occupied[t] += gpus as u64;
            }
        }
        let ix = &mut self.idx[self.nodes[id as usize].gpu_type];
        let is = |e: Option<&Entry>, c: NodeClass| e.is_some_and(|e| e.class == c);
        let in_slot = |e: Option<&Entry>, c: NodeClass| is(e, c).then(|| e.expect("some").slot);

        let (was_idle, idle) = (is(old, NodeClass::Idle), new.class == NodeClass::Idle);
        if was_idle != idle {
            if idle {
                ix.idle.insert(id);
            } else {
                ix.idle.remove(id);
            }
        }
        let (old_idle, idle_slot) = (in_slot(old, NodeClass::Idle), idle.then_some(new.slot));
        if old_idle != idle_slot {
            if let Some(s) = old_idle {
                ix.idle_by_tenant[s].remove(id);
                ix.idle_count[s] -= 1;
            }
            if let Some(s) = idle_slot {
                ix.idle_by_tenant[s].insert(id);
                ix.idle_count[s] += 1;
            }
        }
        let old_partial = in_slot(old, NodeClass::Partial);
        let partial = (new.class == NodeClass::Partial).then_some(new.slot);
        // A partly used node's free GPUs may change while it stays where it is.
        if let Some(s) = old_partial {
            ix.partial_free[s] -= old.expect("some").free;
        }
        if let Some(s) = partial {
            ix.partial_free[s] += new.free;
        }
        let (old_bucket, bucket) = (
            old_partial.map(|s| (s, old.expect("some").free)),
            partial.map(|s| (s, new.free)),
        );
        if old_bucket != bucket {
            if let Some((s, f)) = old_bucket {
                ix.partial_by_free[s][f as usize].remove(id);
            }
            if let Some((s, f)) = bucket {
                ix.partial_by_free[s][f as usize].insert(id);
            }
        }

        let was_pre = old.is_some_and(|o| o.preemptible);
        let was_ev = was_pre && ix.evictable.contains(id);
        let ev = new.preemptible && new.evictable_at <= self.promoted_at;
        if was_pre != new.preemptible {
            if new.preemptible {
                ix.preemptible.insert(id);
                ix.preemptible_gpus += gpus as u64;
            } else {
                ix.preemptible.remove(id);
                ix.preemptible_gpus -= gpus as u64;
            }
        }
        let (old_ev_slot, ev_slot) = (
            was_ev.then(|| old.expect("some").slot),
            ev.then_some(new.slot),
        );
        if old_ev_slot != ev_slot {
            if let Some(s) = old_ev_slot {
                ix.evictable_by_tenant[s].remove(id);
                ix.evictable_gpus_of[s] -= gpus as u64;
            }
            if let Some(s) = ev_slot {
                ix.evictable_by_tenant[s].insert(id);
                ix.evictable_gpus_of[s] += gpus as u64;
            }
        }
        if was_ev != ev {
            if ev {
                ix.evictable.insert(id);
                ix.evictable_gpus += gpus as u64;
            } else {
                ix.evictable.remove(id);
                ix.evictable_gpus -= gpus as u64;
            }
        }
        // A node waiting out its exemption has one live entry in the exemption queue, at its
        // `evictable_at`: a new one only when it starts waiting or that time moves.
        let waited = was_pre && !was_ev;
        if new.preemptible
            && !ev
            && !(waited && old.expect("some").evictable_at == new.evictable_at)
        {
            ix.exempt.push(new.evictable_at, id);
        }

        if ix.per_domain && (was_idle != idle || was_ev != ev) {
            let domain = self.nodes[id as usize].domain;
            let d = &mut self.domains[domain as usize];
            if was_idle != idle {
                ix.domains_by_idle[d.idle_nodes as usize].remove(domain);
                if idle {
                    d.idle_nodes += 1;
                } else {
                    d.idle_nodes -= 1;
                }
                if d.idle_nodes > 0 {
                    ix.domains_by_idle[d.idle_nodes as usize].insert(domain);
                }
                ix.domain_tree.set(d.local as usize, d.idle_nodes);
            }
            if was_ev != ev {
                if ev {
                    d.evictable_nodes += 1;
                } else {
                    d.evictable_nodes -= 1;
                }
            }
            ix.reclaim_tree
                .set(d.local as usize, d.idle_nodes + d.evictable_nodes);
        }
        let old_cost = old.and_then(|o| o.cost.map(|c| (o.slot, c)));
        let cost = new.cost.map(|c| (new.slot, c));
        if old_cost != cost {
            if let Some((s, ((b, n), pinned))) = old_cost {
                ix.by_cost[s][pinned as usize][b as usize].remove(n);
            }
            if let Some((s, ((b, n), pinned))) = cost {
                ix.by_cost[s][pinned as usize][b as usize].insert(n);
            }
        }
        ix.free_gpus -= old.map_or(0, |o| o.free) as u64;
        ix.free_gpus += new.free as u64;
    }

    /// A node's key in `by_cost`, if it belongs there.
    fn cost_key(n: &Node, id: NodeId) -> Option<CostKey> {
        (n.used > 0 && !n.down && n.locked == 0).then_some((cost_bucket(n.alloc_gpus), id))
    }

    /// Changes a node through `f`, keeping every index consistent.
    pub fn update_node<R>(&mut self, id: NodeId, f: impl FnOnce(&mut Node) -> R) -> R {
        let old = self.entry(id);
        let r = f(&mut self.nodes[id as usize]);
        let new = self.entry(id);
        self.reindex(id, Some(&old), &new);
        r
    }

    /// Moves a GPU to a new state, keeping the per-type counts.
    pub fn set_gpu_state(&mut self, gpu: GpuId, s: GpuState) {
        self.set_gpus_state(self.gpu_type_of(gpu), [gpu], s);
    }

    /// Puts GPUs, all of type `t`, in state `s`, keeping the per-type counts, without looking
    /// up each GPU's node for its type (a dependent load per GPU).
    pub fn set_gpus_state(
        &mut self,
        t: TypeId,
        gpus: impl IntoIterator<Item = GpuId>,
        s: GpuState,
    ) {
        let mut left = [0u64; N_STATES];
        for g in gpus {
            debug_assert_eq!(self.gpu_type_of(g), t);
            let old = std::mem::replace(&mut self.gpu_state[g as usize], s);
            left[old as usize] += 1;
        }
        let counts = &mut self.state_count[t];
        let moved: u64 = left.iter().sum();
        for (c, l) in counts.iter_mut().zip(left) {
            *c -= l;
        }
        counts[s as usize] += moved;
    }

    /// As [`Self::set_gpus_state`], for GPUs the caller knows are all in state `from` (an
    /// allocation's): no GPU's old state is read, which at fleet scale is a cache miss per
    /// node. The audit's count of GPUs by state checks the caller was right.
    #[inline]
    pub fn move_gpus_state(
        &mut self,
        t: TypeId,
        gpus: impl IntoIterator<Item = GpuId>,
        from: GpuState,
        to: GpuState,
    ) {
        let mut moved = 0;
        for g in gpus {
            debug_assert_eq!(self.gpu_state[g as usize], from);
            self.gpu_state[g as usize] = to;
            moved += 1;
        }
        let counts = &mut self.state_count[t];
        counts[from as usize] -= moved;
        counts[to as usize] += moved;
    }

    pub fn node_of(&self, gpu: GpuId) -> NodeId {
        self.gpu_node[gpu as usize]
    }

    pub fn gpu_type_of(&self, gpu: GpuId) -> TypeId {
        self.nodes[self.node_of(gpu) as usize].gpu_type
    }

    // ----- read-only queries for policies -----

    /// GPUs of the nodes each tenant occupies, by tenant.
    pub fn occupied(&self) -> &[u64] {
        &self.occupied
    }

    /// Idle nodes of a type, in node order.
    pub fn idle_nodes(&self, t: TypeId) -> impl Iterator<Item = NodeId> + '_ {
        self.idx[t].idle.iter()
    }

    /// Idle nodes of a type whose image is tenant `tenant`'s (`None`: never used).
    pub fn idle_nodes_of(
        &self,
        t: TypeId,
        tenant: Option<TenantId>,
    ) -> impl Iterator<Item = NodeId> + '_ {
        let sets = &self.idx[t].idle_by_tenant;
        sets[slot_of(tenant, sets.len())].iter()
    }

    /// Partly used nodes of type `t` held by tenant `tenant` on which it could be given at least
    /// `k` GPUs (at least one), in node order.
    pub fn partial_nodes_with(
        &self,
        t: TypeId,
        tenant: TenantId,
        k: u32,
    ) -> impl Iterator<Item = NodeId> + '_ {
        let buckets = &self.idx[t].partial_by_free[tenant];
        let buckets = &buckets[(k.max(1) as usize).min(buckets.len())..];
        // A k-way merge that keeps each non-empty bucket's next member (a node is in one
        // bucket): a step advances only the bucket it took from, where asking every bucket
        // afresh cost a bitset search per bucket per node and 14 % of a gigawatt run.
        let mut heads: smallvec::SmallVec<[(NodeId, &BitSet); 8]> = (buckets.iter())
            .filter_map(|b| Some((b.first()?, b)))
            .collect();
        std::iter::from_fn(move || {
            let (i, &(n, b)) = heads.iter().enumerate().min_by_key(|(_, h)| h.0)?;
            match b.next_from(n + 1) {
                Some(next) => heads[i].0 = next,
                None => {
                    heads.swap_remove(i);
                }
            }
            Some(n)
        })
    }

    /// How many of tenant `tenant`'s partly used nodes of type `t` could give it `k` GPUs.
    pub fn partial_count_with(&self, t: TypeId, tenant: TenantId, k: u32) -> u64 {
        let buckets = &self.idx[t].partial_by_free[tenant];
        (buckets[(k.max(1) as usize).min(buckets.len())..].iter())
            .map(|b| b.len() as u64)
            .sum()
    }

    /// The tenant's partly used node of type `t` with the fewest usable GPUs that still hold
    /// `k` (the first in node order among equals).
    pub fn tightest_partial(&self, t: TypeId, tenant: TenantId, k: u32) -> Option<NodeId> {
        let buckets = &self.idx[t].partial_by_free[tenant];
        (buckets[(k.max(1) as usize).min(buckets.len())..].iter()).find_map(BitSet::first)
    }

    /// GPUs of type `t` that tenant `tenant` could be given now (idle nodes plus its own partly
    /// used nodes).
    pub fn available(&self, t: TypeId, tenant: TenantId) -> u64 {
        let ix = &self.idx[t];
        ix.idle.len() as u64 * self.types[t].node_gpus as u64 + ix.partial_free[tenant] as u64
    }

    /// GPUs of type `t` that tenant `tenant` could use without a tenant switch: idle nodes
    /// carrying its image plus free GPUs on its partly used nodes.
    pub fn available_own(&self, t: TypeId, tenant: TenantId) -> u64 {
        let ix = &self.idx[t];
        ix.idle_count[tenant] as u64 * self.types[t].node_gpus as u64
            + ix.partial_free[tenant] as u64
    }

    /// Idle nodes of type `t`.
    pub fn idle_node_count(&self, t: TypeId) -> u64 {
        self.idx[t].idle.len() as u64
    }

    /// Idle nodes of type `t` whose last tenant is `tenant` (`None`: never used).
    pub fn idle_count_of(&self, t: TypeId, tenant: Option<TenantId>) -> u64 {
        let ix = &self.idx[t];
        ix.idle_count[slot_of(tenant, ix.idle_count.len())] as u64
    }

    /// Free GPUs of type `t`, whoever could use them.
    pub fn free_gpus(&self, t: TypeId) -> u64 {
        self.idx[t].free_gpus
    }

    /// Nodes of type `t` held only by running preemptible work.
    pub fn preemptible_nodes(&self, t: TypeId) -> impl Iterator<Item = NodeId> + '_ {
        self.idx[t].preemptible.iter()
    }

    /// GPUs on nodes of type `t` held only by running preemptible work.
    pub fn preemptible_gpus(&self, t: TypeId) -> u64 {
        self.idx[t].preemptible_gpus
    }

    /// Moves preemptible nodes whose exemption has ended by `now` to the evictable set. The
    /// engine calls it before every placement pass; times never go back.
    pub fn promote(&mut self, now: crate::units::Time) {
        self.promoted_at = now;
        for ix in &mut self.idx {
            while let Some((at, id)) = ix.exempt.pop_due(now) {
                let n = &self.nodes[id as usize];
                if !Self::exempt_until(ix, n, id, at) {
                    continue; // the node changed since: a stale entry
                }
                let slot = slot_of(n.tenant, ix.evictable_gpus_of.len());
                ix.evictable.insert(id);
                ix.evictable_gpus += n.gpus as u64;
                ix.evictable_by_tenant[slot].insert(id);
                ix.evictable_gpus_of[slot] += n.gpus as u64;
                if ix.per_domain {
                    let d = &mut self.domains[n.domain as usize];
                    d.evictable_nodes += 1;
                    ix.reclaim_tree
                        .set(d.local as usize, d.idle_nodes + d.evictable_nodes);
                }
            }
        }
    }

    /// Nodes of type `t` held by `tenant` that evicting all their work would free (up, no
    /// tenant switch in progress), cheapest first: by the power of two of the GPUs of the
    /// allocations there (a gang counts whole), then fleet order. With `preemptible_only`,
    /// only nodes of running preemptible work. Whether the holders may be evicted now is for
    /// the caller. Empty unless the cluster keeps this index
    /// ([`Self::keep_eviction_cost_index`]).
    pub fn nodes_by_eviction_cost(
        &self,
        t: TypeId,
        tenant: TenantId,
        preemptible_only: bool,
    ) -> impl Iterator<Item = CostKey> + '_ {
        let buckets = self.idx[t].by_cost.get(tenant);
        (0..COST_BUCKETS).flat_map(move |b| {
            let [pre, other] = buckets.map_or([None, None], |[p, o]| [Some(&p[b]), Some(&o[b])]);
            let other = other.filter(|_| !preemptible_only);
            merge_sorted(
                pre.into_iter().flat_map(|s| s.iter()),
                other.into_iter().flat_map(|s| s.iter()),
            )
            .map(move |n| (b as u32, n))
        })
    }

    /// Whether node `id` (`n`) waits in `ix.exempt` for its exemption to end at `at`.
    fn exempt_until(ix: &TypeIndex, n: &Node, id: NodeId, at: crate::units::Time) -> bool {
        ix.preemptible.contains(id) && !ix.evictable.contains(id) && n.evictable_at == at
    }

    /// The current entries of `ix.exempt`, in order.
    fn live_exempt(&self, ix: &TypeIndex) -> BTreeSet<(crate::units::Time, NodeId)> {
        (ix.exempt.iter())
            .filter(|&(at, id)| Self::exempt_until(ix, &self.nodes[id as usize], id, at))
            .collect()
    }

    /// Preemptible nodes of type `t` whose work has run its exemption, in fleet order.
    pub fn evictable_nodes(&self, t: TypeId) -> impl Iterator<Item = NodeId> + '_ {
        self.idx[t].evictable.iter()
    }

    /// GPUs on [`Self::evictable_nodes`].
    pub fn evictable_gpus(&self, t: TypeId) -> u64 {
        self.idx[t].evictable_gpus
    }

    /// [`Self::evictable_nodes`] of `tenant`, in fleet order.
    pub fn evictable_nodes_of(
        &self,
        t: TypeId,
        tenant: TenantId,
    ) -> impl Iterator<Item = NodeId> + '_ {
        self.idx[t].evictable_by_tenant[tenant].iter()
    }

    /// GPUs on [`Self::evictable_nodes_of`].
    pub fn evictable_gpus_of(&self, t: TypeId, tenant: TenantId) -> u64 {
        self.idx[t].evictable_gpus_of[tenant]
    }

    pub fn has_preemptible(&self) -> bool {
        self.idx.iter().any(|ix| !ix.preemptible.is_empty())
    }

    /// The first NVLink domain of type `t` (in fleet order) with at least `k` idle nodes.
    pub fn first_domain_with_idle(&self, t: TypeId, k: u32) -> Option<DomainId> {
        let ix = &self.idx[t];
        if !ix.per_domain {
            return self.one_node_domains(k, ix.idle.iter()).next();
        }
        ix.domain_tree
            .first_at_least(k)
            .map(|local| ix.domains[local])
    }

    /// Where domains are single nodes: the domains of `nodes` if `k` (nodes wanted in one
    /// domain) is at most one, else none.
    fn one_node_domains(
        &self,
        k: u32,
        nodes: impl Iterator<Item = NodeId>,
    ) -> impl Iterator<Item = DomainId> {
        nodes
            .take_while(move |_| k <= 1)
            .map(|n| self.nodes[n as usize].domain)
    }

    /// Idle nodes in domain `d`.
    pub fn idle_nodes_in(&self, d: DomainId) -> u32 {
        let dm = &self.domains[d as usize];
        if self.idx[dm.gpu_type].per_domain {
            dm.idle_nodes
        } else {
            (self.domain_nodes(d))
                .filter(|&n| self.nodes[n as usize].class() == NodeClass::Idle)
                .count() as u32
        }
    }

    /// Domains of type `t` with at least `k` idle nodes, fewest idle nodes first (best fit).
    pub fn domains_with_idle_at_least(
        &self,
        t: TypeId,
        k: u32,
    ) -> impl Iterator<Item = DomainId> + '_ {
        let ix = &self.idx[t];
        // One-node domains all have one idle node or none: fleet order is best-fit order.
        let single = (!ix.per_domain).then(|| self.one_node_domains(k, ix.idle.iter()));
        let sets = ix.domains_by_idle.iter().skip(k.max(1) as usize);
        sets.flat_map(|s| s.iter())
            .chain(single.into_iter().flatten())
    }

    /// Domains of type `t` whose idle nodes plus evictable nodes (see
    /// [`Self::evictable_nodes`]) number at least `k`, in fleet order: where evicting
    /// preemptible work could make room for a gang of `k` nodes.
    pub fn domains_with_reclaimable(
        &self,
        t: TypeId,
        k: u32,
    ) -> impl Iterator<Item = DomainId> + '_ {
        let ix = &self.idx[t];
        let single = (!ix.per_domain).then(|| {
            let nodes = merge_sorted(ix.idle.iter(), ix.evictable.iter());
            self.one_node_domains(k, nodes)
        });
        let mut from = 0;
        let tree = std::iter::from_fn(move || {
            if !ix.per_domain {
                return None;
            }
            let local = ix.reclaim_tree.first_at_least_from(k.max(1), from)?;
            from = local + 1;
            Some(ix.domains[local])
        });
        tree.chain(single.into_iter().flatten())
    }

    /// Domains of type `t`, in fleet order.
    pub fn domains_of(&self, t: TypeId) -> &[DomainId] {
        &self.idx[t].domains
    }

    /// Nodes of a domain.
    pub fn domain_nodes(&self, d: DomainId) -> std::ops::Range<NodeId> {
        let dm = &self.domains[d as usize];
        dm.first_node..dm.first_node + dm.nodes
    }

    /// Checks every index against a recomputation from the nodes (for tests and audits): the
    /// main sets and counts straight from the node predicates, then everything against an
    /// index built afresh.
    pub fn check_indexes(&self) -> Result<(), String> {
        for (t, ix) in self.idx.iter().enumerate() {
            let of_type = || {
                (0..self.nodes.len() as NodeId).filter(|&n| self.nodes[n as usize].gpu_type == t)
            };
            let set = |p: &dyn Fn(&Node) -> bool| -> Vec<NodeId> {
                of_type().filter(|&n| p(&self.nodes[n as usize])).collect()
            };
            let idle = set(&|n| n.class() == NodeClass::Idle);
            let partial = set(&|n| n.class() == NodeClass::Partial);
            let preemptible = set(&|n| n.preemptible());
            let evictable = set(&|n| n.preemptible() && n.evictable_at <= self.promoted_at);
            let free: u64 = (of_type().map(|n| &self.nodes[n as usize]))
                .filter(|n| !n.down)
                .map(|n| (n.free + n.locked) as u64)
                .sum();
            let mut partial_sorted: Vec<NodeId> = (ix.partial_by_free.iter().flatten())
                .flat_map(|s| s.iter())
                .collect();
            partial_sorted.sort_unstable();
            if ix.idle.iter().ne(idle.iter().copied())
                || partial_sorted != partial
                || ix.preemptible.iter().ne(preemptible.iter().copied())
                || ix.evictable.iter().ne(evictable.iter().copied())
                || ix.free_gpus != free
            {
                return Err(format!(
                    "idle, partial, preemptible or evictable nodes, or free GPUs, of GPU type {t} disagree with the node states"
                ));
            }
        }
        if (self.domains.iter()).any(|d| {
            let nodes = d.first_node..d.first_node + d.nodes;
            self.idx[d.gpu_type].per_domain
                && d.idle_nodes as usize
                    != nodes
                        .filter(|&n| self.nodes[n as usize].class() == NodeClass::Idle)
                        .count()
        }) {
            return Err("idle nodes per domain disagree with the node states".into());
        }
        let mut fresh = self.clone();
        fresh.reset_indexes();
        for n in 0..fresh.nodes.len() as NodeId {
            fresh.index(n);
        }
        for (t, (a, b)) in self.idx.iter().zip(&fresh.idx).enumerate() {
            if a.idle != b.idle
                || a.idle_by_tenant != b.idle_by_tenant
                || a.partial_by_free != b.partial_by_free
                || a.partial_free != b.partial_free
                || a.idle_count != b.idle_count
                || a.preemptible != b.preemptible
                || a.preemptible_gpus != b.preemptible_gpus
                || a.evictable != b.evictable
                || a.evictable_gpus != b.evictable_gpus
                || a.evictable_by_tenant != b.evictable_by_tenant
                || a.evictable_gpus_of != b.evictable_gpus_of
                || self.live_exempt(a) != fresh.live_exempt(b)
                || a.by_cost != b.by_cost
                || a.free_gpus != b.free_gpus
                || a.domain_tree.t != b.domain_tree.t
                || a.reclaim_tree.t != b.reclaim_tree.t
                || a.domains_by_idle != b.domains_by_idle
            {
                return Err(format!(
                    "index of GPU type {t} disagrees with the node states"
                ));
            }
        }
        if self
            .domains
            .iter()
            .zip(&fresh.domains)
            .any(|(a, b)| a.evictable_nodes != b.evictable_nodes)
        {
            return Err("evictable nodes per domain disagree with the node states".into());
        }
        if fresh.occupied != self.occupied {
            return Err(format!(
                "tenant occupancy {:?} disagrees with the nodes {:?}",
                self.occupied, fresh.occupied
            ));
        }
        let mut counts = vec![[0u64; N_STATES]; self.types.len()];
        for (g, s) in self.gpu_state.iter().enumerate() {
            counts[self.gpu_type_of(g as GpuId)][*s as usize] += 1;
        }
        if counts != self.state_count {
            return Err("per-type GPU state counts disagree with the GPU states".into());
        }
        Ok(())
    }
}

/// Merges two ascending iterators into one ascending iterator.
pub fn merge_sorted<T: Ord + Copy>(
    a: impl Iterator<Item = T>,
    b: impl Iterator<Item = T>,
) -> impl Iterator<Item = T> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x <= y => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// Slot of a tenant (or of "none", the last slot) in a per-tenant vector of `len` slots.
fn slot_of(tenant: Option<TenantId>, len: usize) -> usize {
    tenant.unwrap_or(len - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_tree_finds_first_slot_at_least_k() {
        let mut t = MaxTree::new(5);
        for (i, v) in [1, 4, 2, 4, 0].into_iter().enumerate() {
            t.set(i, v);
        }
        assert_eq!(t.first_at_least(3), Some(1));
        assert_eq!(t.first_at_least(1), Some(0));
        assert_eq!(t.first_at_least(5), None);
        t.set(1, 0);
        assert_eq!(t.first_at_least(3), Some(3));
    }

    proptest::proptest! {
        /// The search from a slot finds what a scan from that slot finds.
        #[test]
        fn max_tree_search_from_a_slot_matches_a_scan(
            values in proptest::collection::vec(0u32..6, 1..300),
            k in 1u32..7,
            start in 0usize..320,
        ) {
            let mut t = MaxTree::new(values.len());
            for (i, &v) in values.iter().enumerate() {
                t.set(i, v);
            }
            let scan = (start..values.len()).find(|&i| values[i] >= k);
            proptest::prop_assert_eq!(t.first_at_least_from(k, start), scan);
        }
    }
}
