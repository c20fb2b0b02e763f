//! Allocations: a request placed on GPUs, moving through tenant switch, workflow switch and
//! running. Slots are reused; a generation counter makes events of a freed slot stale.

use crate::fleet::NodeId;
use crate::fleet::TypeId;
use crate::fleet::cluster::{GpuId, GpuState};
use crate::units::Time;
use crate::workload::{Kind, TenantId, WorkloadId};

use super::request::Target;

pub type AllocId = u32;

/// An allocation's GPUs, inline up to one node's worth (most allocations are one replica or
/// one small job), so placing and releasing need no heap allocation.
pub type GpuList = smallvec::SmallVec<[GpuId; 8]>;

/// Nodes and the GPUs taken on each. Inline up to two nodes, since most placements are one
/// node: with the allocations' GPU lists inline too, no placement allocates on the heap
/// (together 18 % of a gigawatt run's wall time, see BENCHMARKS.md).
pub type NodeList = smallvec::SmallVec<[(NodeId, u32); 2]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    TenantSwitch,
    WorkflowSwitch,
    Running,
}

impl Phase {
    /// The state an allocation's GPUs are in during this phase.
    pub fn gpu_state(self) -> GpuState {
        match self {
            Phase::TenantSwitch => GpuState::TenantSwitch,
            Phase::WorkflowSwitch => GpuState::WorkflowSwitch,
            Phase::Running => GpuState::Busy,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Alloc {
    pub target: Target,
    pub tenant: TenantId,
    pub workload: WorkloadId,
    pub kind: Kind,
    /// Workflow identity loaded on the GPUs once running.
    pub workflow: u32,
    pub gpu_type: TypeId,
    pub gpus: GpuList,
    /// Nodes and the GPUs held on each, as placed.
    pub nodes: NodeList,
    /// Nodes this allocation re-provisions, with the unallocated GPUs its switch holds there.
    pub switched: NodeList,
    pub phase: Phase,
    pub phase_start: Time,
    /// End of the current phase (completion time for a running job; `Time::MAX` for a replica).
    pub phase_end: Time,
    /// Workflow-switch time that follows the tenant switch.
    pub workflow_switch: Time,
    /// A job's run whose workflow switch (model load) is not an event: the allocation is
    /// `Running` from `phase_start` on, and loads for the `workflow_switch` before it. Its GPUs
    /// stay in the workflow-switch state until it is released, which books the switch and the
    /// run from these times and moves the run's GPU time to busy in the state integrals.
    pub loading: bool,
    pub preemptible: bool,
    /// Tokens/s of the whole allocation when running.
    pub rate: f64,
    pub placed_at: Time,
}

impl Alloc {
    /// Whether a loading job's model load has ended by `now` (it is running).
    pub fn loaded_by(&self, now: Time) -> bool {
        self.loading && now >= self.phase_start
    }

    /// The state its GPUs are in (a loading job's stay in the workflow switch throughout).
    pub fn gpu_state(&self) -> GpuState {
        if self.loading {
            GpuState::WorkflowSwitch
        } else {
            self.phase.gpu_state()
        }
    }

    pub fn locked_gpus(&self) -> u32 {
        self.switched.iter().map(|&(_, n)| n).sum()
    }

    /// GPUs the current phase occupies: its own, plus those its tenant switch locks.
    pub fn phase_gpus(&self) -> u32 {
        self.gpus.len() as u32
            + if self.phase == Phase::TenantSwitch {
                self.locked_gpus()
            } else {
                0
            }
    }
}

/// An allocation's slot: its generation, bumped when its allocation is removed, beside the
/// record, so that an event's staleness check and its handling read the same lines. In
/// declared order (`repr(C)`): the generation first, beside the record's tag, in one line.
#[derive(Clone, Debug)]
#[repr(C)]
struct Slot {
    generation: u32,
    alloc: Option<Alloc>,
}

#[derive(Clone, Debug, Default)]
pub struct Allocs {
    slots: Vec<Slot>,
    free: Vec<AllocId>,
    live: usize,
}

impl Allocs {
    pub fn insert(&mut self, a: Alloc) -> (AllocId, u32) {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            let slot = &mut self.slots[id as usize];
            slot.alloc = Some(a);
            (id, slot.generation)
        } else {
            self.slots.push(Slot {
                generation: 0,
                alloc: Some(a),
            });
            ((self.slots.len() - 1) as AllocId, 0)
        }
    }

    pub fn remove(&mut self, id: AllocId) -> Option<Alloc> {
        let slot = self.slots.get_mut(id as usize)?;
        let a = slot.alloc.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id);
        self.live -= 1;
        Some(a)
    }

    pub fn get(&self, id: AllocId) -> Option<&Alloc> {
        self.slots.get(id as usize)?.alloc.as_ref()
    }

    pub fn get_mut(&mut self, id: AllocId) -> Option<&mut Alloc> {
        self.slots.get_mut(id as usize)?.alloc.as_mut()
    }

    pub fn generation(&self, id: AllocId) -> u32 {
        self.slots.get(id as usize).map_or(0, |s| s.generation)
    }

    /// Asks the CPU to start loading allocation `id`'s record ([`crate::prefetch`]).
    #[inline]
    pub fn prefetch(&self, id: AllocId) {
        if let Some(slot) = self.slots.get(id as usize) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Whether allocation `id` of generation `generation` is still live: removing an
    /// allocation bumps its slot's generation, and events are only made for live ones.
    pub fn is_current(&self, id: AllocId, generation: u32) -> bool {
        let current = self.slots.get(id as usize).map(|s| s.generation) == Some(generation);
        debug_assert!(!current || self.get(id).is_some());
        current
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Live allocations in id order.
    pub fn iter(&self) -> impl Iterator<Item = (AllocId, &Alloc)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.alloc.as_ref().map(|a| (i as AllocId, a)))
    }
}
