//! Building blocks shared by policies: the shape a request takes on nodes, filling it from
//! candidate nodes, finding room in one NVLink domain, and choosing preemption victims.

use super::{NodeList, Placement, View};
pub use crate::fleet::Shape;
use crate::fleet::cluster::{Node, NodeClass};
use crate::fleet::{Cluster, NodeId, TypeId};
use crate::state::alloc::{Alloc, AllocId};
use crate::state::request::Request;
use crate::state::{preemption_allowed, quota_kept};
use crate::workload::TenantId;

/// Takes `g` GPUs of type `t` for `tenant` from `nodes` in the order given, in the request's
/// [`Shape`]: the first nodes that can give a whole node give one until enough do, the first
/// that can give the remainder gives it. `None` if the nodes fall short.
pub fn fill_from(
    cluster: &Cluster,
    t: TypeId,
    nodes: impl Iterator<Item = NodeId>,
    tenant: TenantId,
    g: u32,
) -> Option<NodeList> {
    let ng = cluster.types[t].node_gpus;
    let Shape { mut whole, mut rem } = Shape::of(g, ng);
    let mut out = NodeList::new();
    for n in nodes {
        let usable = cluster.nodes[n as usize].usable_by(tenant);
        if whole > 0 && usable >= ng {
            out.push((n, ng));
            whole -= 1;
        } else if rem > 0 && usable >= rem {
            out.push((n, rem));
            rem = 0;
        }
        if whole == 0 && rem == 0 {
            return Some(out);
        }
    }
    None
}

/// The candidate nodes of type `t` for `g` GPUs of `tenant` that first fit scans: its partly
/// used nodes that can give the remainder of the request's shape and the idle nodes, in node
/// order (`idle` chooses which idle nodes).
pub fn shaped_candidates<'a>(
    c: &'a Cluster,
    t: TypeId,
    tenant: TenantId,
    g: u32,
    idle: impl Iterator<Item = NodeId> + 'a,
) -> impl Iterator<Item = NodeId> + 'a {
    let ng = c.types[t].node_gpus;
    let need = Shape::of(g, ng).partial_need(ng);
    merge_ascending(c.partial_nodes_with(t, tenant, need), idle)
}

/// Room for a request's [`Shape`] on one GPU type, counted while victims are picked: nodes
/// that could give a whole node, and partly used nodes of the tenant that could give the
/// remainder.
pub struct Room {
    shape: Shape,
    node_gpus: u32,
    tenant: TenantId,
    whole: u64,
    rem: u64,
}

impl Room {
    /// The room there is now: `idle` idle nodes the placement would use, and the tenant's
    /// partly used nodes.
    pub fn new(c: &Cluster, t: TypeId, tenant: TenantId, g: u32, idle: u64) -> Room {
        let ng = c.types[t].node_gpus;
        let shape = Shape::of(g, ng);
        let rem = if shape.rem > 0 {
            c.partial_count_with(t, tenant, shape.rem)
        } else {
            0
        };
        Room {
            shape,
            node_gpus: ng,
            tenant,
            whole: idle,
            rem,
        }
    }

    pub fn enough(&self) -> bool {
        self.whole >= self.shape.whole as u64
            && self.whole + self.rem.min(1) >= self.shape.nodes() as u64
    }

    /// Whether `extra` more whole nodes would make enough room.
    pub fn enough_with(&self, extra: u64) -> bool {
        Room {
            whole: self.whole + extra,
            ..*self
        }
        .enough()
    }

    /// Counts node `n` as emptied by evicting everything on it: it can give a whole node (and
    /// no longer counts as a partly used one).
    pub fn empty(&mut self, node: &Node) {
        let usable = node.usable_by(self.tenant);
        if self.shape.rem > 0
            && node.tenant == Some(self.tenant)
            && node.class() == NodeClass::Partial
            && usable >= self.shape.rem
            && usable < self.node_gpus
        {
            self.rem -= 1;
        }
        self.whole += 1;
    }
}

/// Merges two ascending node iterators into one ascending iterator.
pub use crate::fleet::cluster::merge_sorted as merge_ascending;

/// Nodes needed for `g` GPUs on a type with `node_gpus` per node.
pub fn nodes_for(g: u32, node_gpus: u32) -> u32 {
    g.div_ceil(node_gpus)
}

/// Places `g` GPUs on idle nodes of one NVLink domain: the first domain in fleet order with
/// enough idle nodes.
pub fn first_domain(cluster: &Cluster, t: TypeId, g: u32) -> Option<Placement> {
    let ng = cluster.types[t].node_gpus;
    let d = cluster.first_domain_with_idle(t, nodes_for(g, ng))?;
    take_idle_in_domain(cluster, t, d, g, |_| true)
}

/// Takes `g` GPUs from the idle nodes of domain `d` that pass `allowed`.
pub fn take_idle_in_domain(
    cluster: &Cluster,
    t: TypeId,
    d: u32,
    g: u32,
    allowed: impl Fn(&Node) -> bool,
) -> Option<Placement> {
    let mut left = g;
    let mut nodes = NodeList::new();
    for n in cluster.domain_nodes(d) {
        let node = &cluster.nodes[n as usize];
        if node.class() == NodeClass::Idle && allowed(node) {
            let take = node.gpus.min(left);
            nodes.push((n, take));
            left -= take;
            if left == 0 {
                return Some(Placement { gpu_type: t, nodes });
            }
        }
    }
    None
}

/// Preemptible allocations to evict so that `req` fits `g` GPUs on type `t` in its
/// [`Shape`], choosing whole nodes held only by running preemptible work, in node order, among
/// nodes `allowed` accepts (and, with `own`, only nodes of that tenant, found through their
/// own index). `idle` is how many idle nodes of that type the caller's placement would use.
/// Returns `None` when even evicting all of them would not make room.
pub fn victims_for(
    view: &View,
    req: &Request,
    t: TypeId,
    g: u32,
    idle: u64,
    own: Option<TenantId>,
    allowed: impl Fn(&Node) -> bool,
) -> Option<Vec<AllocId>> {
    if req.preemptible {
        return None;
    }
    let c = view.cluster;
    // Only nodes whose every holder the engine's rule lets this request evict.
    let allowed = |node: &Node| {
        own.is_none_or(|o| node.tenant == Some(o))
            && allowed(node)
            && node.allocs().all(|id| {
                view.allocs.get(id).is_some_and(|a| {
                    preemption_allowed(view.scenario, view.cluster, req, a, view.now)
                })
            })
    };
    // Collected as a list, sorted and deduplicated once at the end (a gang may hold several
    // of the nodes): cheaper than an ordered set for the hundreds a wide request evicts.
    let mut victims = Vec::new();
    // The whole set must keep the quota rule: evicting another tenant's work may take only
    // what that tenant holds beyond its reservation.
    let done = |mut v: Vec<AllocId>| {
        v.sort_unstable();
        v.dedup();
        let set: Vec<(AllocId, &Alloc)> = v
            .iter()
            .filter_map(|&id| view.allocs.get(id).map(|a| (id, a)))
            .collect();
        // Each passed `allowed`: only the quota rule on the whole set is left.
        quota_kept(view.scenario, view.cluster, req, &set).then_some(v)
    };
    if req.needs_one_domain(view.scenario, t) {
        let need = nodes_for(g, c.types[t].node_gpus);
        // Only evictable (past-exemption) preemptible nodes can be freed: only domains where
        // they and the idle nodes reach `need` are searched.
        for d in c.domains_with_reclaimable(t, need) {
            let mut ok = 0;
            let mut picked = Vec::new();
            for n in c.domain_nodes(d) {
                let node = &c.nodes[n as usize];
                if !allowed(node) {
                    continue;
                }
                if node.class() == NodeClass::Idle {
                    ok += 1;
                } else if node.preemptible() {
                    ok += 1;
                    picked.push(n);
                }
                if ok == need {
                    break;
                }
            }
            if ok >= need && !picked.is_empty() {
                for n in picked {
                    victims.extend(c.nodes[n as usize].allocs());
                }
                return done(victims);
            }
        }
        return None;
    }
    let mut room = Room::new(c, t, req.tenant, g, idle);
    let ng = c.types[t].node_gpus as u64;
    // Preemptible work yields only to its own tenant, or to anyone while its tenant holds more
    // than its reservation: other tenants' evictable nodes are not candidates at all.
    let sc = view.scenario;
    let may_yield =
        |u: TenantId| u == req.tenant || view.occupied[u] > sc.tenants[u].reserved_total() as u64;
    let tenants: Vec<TenantId> = match own {
        Some(o) => vec![o],
        None => (0..sc.tenants.len()).filter(|&u| may_yield(u)).collect(),
    };
    let all = own.is_none()
        && (0..sc.tenants.len()).all(|u| may_yield(u) || c.evictable_gpus_of(t, u) == 0);
    // What each other tenant may lose and keep its reservation (the quota rule the whole set
    // must pass): once a tenant's part is taken, its other nodes are passed over rather than
    // found to break the rule after the scan.
    let mut budget: Vec<u64> = (0..sc.tenants.len())
        .map(|u| match sc.tenants[u].reserved_total() as u64 {
            r if u == req.tenant || r == 0 => u64::MAX,
            r => view.occupied[u].saturating_sub(r),
        })
        .collect();
    let evictable: u64 = (tenants.iter())
        .map(|&u| c.evictable_gpus_of(t, u).min(budget[u]))
        .sum::<u64>()
        / ng;
    if room.enough() || !room.enough_with(evictable) {
        return None; // nothing to evict for, or evicting every evictable node would not do
    }
    let nodes: Box<dyn Iterator<Item = NodeId>> = if all {
        Box::new(c.evictable_nodes(t))
    } else {
        // The candidate tenants' nodes, merged back into fleet order.
        let mut each: Vec<_> = (tenants.iter())
            .map(|&u| c.evictable_nodes_of(t, u).peekable())
            .collect();
        Box::new(std::iter::from_fn(move || {
            let i = (0..each.len())
                .filter_map(|i| each[i].peek().map(|&n| (n, i)))
                .min()?
                .1;
            each[i].next()
        }))
    };
    for n in nodes {
        let node = &c.nodes[n as usize];
        let u = node.tenant.expect("an evictable node has a tenant");
        if budget[u] < node.gpus as u64 || !allowed(node) {
            continue;
        }
        if budget[u] != u64::MAX {
            budget[u] -= node.gpus as u64;
        }
        victims.extend(node.allocs());
        room.empty(node);
        if room.enough() {
            return done(victims);
        }
    }
    None
}

/// Tries GPU types in `order`: on the first type with enough usable GPUs where a placement
/// function succeeds, returns its placement. `wide` places gangs that need one NVLink domain,
/// `narrow` everything else.
pub fn place_by_types(
    view: &View,
    req: &Request,
    order: &[TypeId],
    wide: impl Fn(&Cluster, TypeId, u32) -> Option<Placement>,
    narrow: impl Fn(&Cluster, TypeId, TenantId, u32) -> Option<Placement>,
) -> Option<Placement> {
    let (c, sc) = (view.cluster, view.scenario);
    order.iter().find_map(|&t| {
        let g = req.gpus_on(sc, t)?;
        if c.available(t, req.tenant) < g as u64 {
            return None;
        }
        if req.needs_one_domain(sc, t) {
            wide(c, t, g)
        } else {
            narrow(c, t, req.tenant, g)
        }
    })
}

/// Evictions of preemptible work that would make room on the first type in `order` where any
/// would (nodes in fleet order).
pub fn evict_by_types(view: &View, req: &Request, order: &[TypeId]) -> Option<Vec<AllocId>> {
    let c = view.cluster;
    order.iter().find_map(|&t| {
        let g = req.gpus_on(view.scenario, t)?;
        victims_for(view, req, t, g, c.idle_node_count(t), None, |_| true)
    })
}

/// GPU types in config order.
pub fn config_order<'a>(view: &View<'a>) -> &'a [TypeId] {
    view.cluster.type_ids()
}
