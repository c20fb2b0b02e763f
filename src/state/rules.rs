//! The engine's preemption and quota rules, shared with the policies: which running work may
//! be evicted for a request (preemptible work yielding, borrowed GPUs reclaimed), and whether
//! a request keeps its tenant within its reservation. The engine refuses a decision that
//! breaks them; policies read them to propose only what the engine accepts.

use crate::config::Scenario;
use crate::fleet::{Cluster, NodeId};
use crate::units::Time;
use crate::workload::TenantId;

use super::alloc::{Alloc, AllocId, Phase};
use super::request::Request;

/// The engine's preemption rule for one victim, shared with the policies: it must have been
/// running for at least `simulation.preempt_exempt`, and either preemptible while the
/// requester is not and of the requester's own tenant or a tenant above its reservation (it
/// yields), or borrowed (reclaimed): its tenant occupies more GPUs than it reserved, and the
/// requester's tenant stays within its own reservation once the request is placed. So work of
/// a tenant within its reservation is never evicted by another tenant: the reservation is a
/// guarantee. Quotas count the GPUs of occupied nodes, since a partly used node is closed to
/// other tenants. [`victims_allowed`] adds the condition on a whole set of victims.
pub fn preemption_allowed(sc: &Scenario, c: &Cluster, req: &Request, a: &Alloc, now: Time) -> bool {
    allowed_given(sc, c, req, a, now, || within_quota(sc, c, req))
}

/// [`preemption_allowed`] with the requester's quota check supplied (`within`, evaluated only
/// if needed): a caller judging many victims for one request computes it once.
#[inline]
pub fn allowed_given(
    sc: &Scenario,
    c: &Cluster,
    req: &Request,
    a: &Alloc,
    now: Time,
    within: impl FnOnce() -> bool,
) -> bool {
    // Work must have run `preempt_exempt` first, so evictions cannot thrash.
    if a.phase != Phase::Running || now < a.phase_start.saturating_add(sc.preempt_exempt) {
        return false;
    }
    let own = a.tenant == req.tenant;
    let borrowing = !own && c.occupied()[a.tenant] > reserved(sc, a.tenant);
    (a.preemptible && !req.preemptible && (own || borrowing)) || (borrowing && within())
}

/// Whether a set of victims may be evicted for `req`: each is allowed, and the nodes the
/// victims of other tenants vacate take from each tenant only what it occupies beyond its
/// reservation. So an eviction never pushes another tenant below its quota, and that tenant
/// cannot reclaim back: quotas do not flap.
pub fn victims_allowed(
    sc: &Scenario,
    c: &Cluster,
    req: &Request,
    victims: &[(AllocId, &Alloc)],
    now: Time,
) -> bool {
    victims
        .iter()
        .all(|&(_, a)| preemption_allowed(sc, c, req, a, now))
        && quota_kept(sc, c, req, victims)
}

/// The quota rule of [`victims_allowed`] alone, for victims each already allowed. It bounds
/// what other tenants lose: a set of the requester's own work keeps it, and so does one whose
/// other tenants reserve nothing (whatever they lose, they keep their reservation of none).
pub fn quota_kept(
    sc: &Scenario,
    c: &Cluster,
    req: &Request,
    victims: &[(AllocId, &Alloc)],
) -> bool {
    let bounded = |a: &Alloc| a.tenant != req.tenant && reserved(sc, a.tenant) > 0;
    !victims.iter().any(|&(_, a)| bounded(a))
        || VictimSet::new(sc.tenants.len()).add(sc, c, req, victims)
}

/// A set of victims grown a few at a time, with what the quota rule of [`victims_allowed`]
/// needs to judge it, so that a policy adding victims one node at a time need not re-judge
/// the whole set at each step.
#[derive(Clone, Debug, Default)]
pub struct VictimSet {
    /// The victims, sorted.
    pub ids: Vec<AllocId>,
    /// By tenant, the GPUs of the nodes the victims sit on, counted once per victim: at least
    /// what the set would vacate of that tenant's nodes.
    touched_gpus: Vec<u64>,
    /// The nodes the victims sit on, in no order, with repeats.
    touched_nodes: Vec<NodeId>,
    /// Tenants other than the requester's with a victim in the set, sorted.
    reclaimed_from: Vec<TenantId>,
}

/// Inserts `x` into the sorted `v` if it is not there.
fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, x: T) {
    if let Err(i) = v.binary_search(&x) {
        v.insert(i, x);
    }
}

impl VictimSet {
    pub fn new(tenants: usize) -> Self {
        VictimSet {
            touched_gpus: vec![0; tenants],
            ..Default::default()
        }
    }

    /// Adds `victims` if the grown set keeps the quota rule of [`victims_allowed`], and
    /// returns whether it did (checking each victim against [`preemption_allowed`] is the
    /// caller's). The rule is first judged on a bound: a tenant that keeps its reservation
    /// even if it lost every node a victim touches keeps it; only a tenant near its
    /// reservation needs the nodes the set would really vacate, counted from the whole set.
    /// The sets are sorted vectors: a set holds tens to hundreds of victims, and a binary
    /// search over a vector costs less than an ordered-set node per entry.
    pub fn add(
        &mut self,
        sc: &Scenario,
        c: &Cluster,
        req: &Request,
        victims: &[(AllocId, &Alloc)],
    ) -> bool {
        let mut new: Vec<AllocId> = (victims.iter())
            .map(|v| v.0)
            .filter(|id| self.ids.binary_search(id).is_err())
            .collect();
        new.sort_unstable();
        new.dedup();
        let mut reclaimed = self.reclaimed_from.clone();
        let mut touched = self.touched_gpus.clone();
        let before = self.touched_nodes.len();
        for &(id, a) in victims {
            if new.binary_search(&id).is_err() {
                continue;
            }
            if a.tenant != req.tenant {
                insert_sorted(&mut reclaimed, a.tenant);
            }
            for &(m, _) in &a.nodes {
                let node = &c.nodes[m as usize];
                if let Some(t) = node.tenant {
                    touched[t] += node.gpus as u64;
                }
                self.touched_nodes.push(m);
            }
        }
        // A tenant that reserves nothing keeps that whatever it loses.
        let keeps = |t: TenantId, lost: u64| {
            let r = reserved(sc, t);
            lost == 0 || r == 0 || c.occupied()[t] >= r + lost
        };
        if !reclaimed.iter().all(|&t| keeps(t, touched[t])) {
            let vacated = self.vacated_gpus(c, &new);
            if !reclaimed.iter().all(|&t| keeps(t, vacated[t])) {
                self.touched_nodes.truncate(before);
                return false;
            }
        }
        // Disjoint from what the set holds: appended, then sorted.
        self.ids.extend(new);
        self.ids.sort_unstable();
        self.touched_gpus = touched;
        self.reclaimed_from = reclaimed;
        true
    }

    /// By tenant, the GPUs of the nodes that evicting the set and `new` would vacate (the
    /// victims of `new` already in `touched_nodes`).
    fn vacated_gpus(&self, c: &Cluster, new: &[AllocId]) -> Vec<u64> {
        let is_in =
            |id: &AllocId| self.ids.binary_search(id).is_ok() || new.binary_search(id).is_ok();
        let mut nodes = self.touched_nodes.clone();
        nodes.sort_unstable();
        nodes.dedup();
        let mut gpus = vec![0; self.touched_gpus.len()];
        for m in nodes {
            let node = &c.nodes[m as usize];
            if let Some(t) = node.tenant
                && node.allocs().all(|id| is_in(&id))
            {
                gpus[t] += node.gpus as u64;
            }
        }
        gpus
    }
}

pub fn reserved(sc: &Scenario, t: usize) -> u64 {
    sc.tenants[t].reserved_total() as u64
}

/// Whether `req`, on its smallest shape, fits in what its tenant's reservation leaves. The
/// tenant's occupied nodes count whole, the request its GPUs: a last request may take the
/// tenant past its reservation by less than a node (a reservation is in GPUs, allocation in
/// nodes), and no other tenant can reclaim that part back, since a reclaim takes whole nodes
/// and only what a tenant holds beyond its reservation.
pub fn within_quota(sc: &Scenario, c: &Cluster, req: &Request) -> bool {
    debug_assert_eq!(
        req.smallest,
        (0..sc.gpu_types.len())
            .filter_map(|t| req.gpus_on(sc, t))
            .min()
            .unwrap_or(u32::MAX),
        "smallest shape of {:?}",
        req.target
    );
    c.occupied()[req.tenant].saturating_add(req.smallest as u64) <= reserved(sc, req.tenant)
}
