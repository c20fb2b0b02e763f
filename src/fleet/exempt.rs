//! Nodes waiting out their preemption exemption, by when it ends: a few FIFO lanes, each in
//! nondecreasing time, and a binary heap for what fits no lane. An exemption ends a fixed
//! time after its work starts, and work starts now or after one of a few switch durations,
//! so nearly every end comes after the last one of some lane: it is appended there, and taken
//! from the lane's front when due, where a heap of hundreds of thousands of entries missed the
//! cache at each level of every sift.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::cluster::NodeId;
use crate::units::Time;

/// Lanes kept at most; an end that fits none goes to the heap.
const LANES: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct ExemptQueue {
    /// Each in nondecreasing time, front first.
    lanes: Vec<VecDeque<(Time, NodeId)>>,
    heap: BinaryHeap<Reverse<(Time, NodeId)>>,
}

impl ExemptQueue {
    /// Adds node `id`, whose exemption ends at `at`: to the lane whose last end is the latest
    /// not after `at` (so each lane keeps one switch duration's ends), an empty or new lane
    /// if none, else the heap.
    #[inline]
    pub fn push(&mut self, at: Time, id: NodeId) {
        let mut best: Option<(Time, usize)> = None;
        let mut empty = None;
        for (i, lane) in self.lanes.iter().enumerate() {
            match lane.back() {
                Some(&(last, _)) if last <= at && best.is_none_or(|(b, _)| last > b) => {
                    best = Some((last, i));
                }
                None if empty.is_none() => empty = Some(i),
                _ => {}
            }
        }
        match best.map(|(_, i)| i).or(empty) {
            Some(i) => self.lanes[i].push_back((at, id)),
            None if self.lanes.len() < LANES => self.lanes.push(VecDeque::from([(at, id)])),
            None => self.heap.push(Reverse((at, id))),
        }
    }

    /// Takes an entry whose end is at or before `now`, if any (in no particular order across
    /// lanes: what a caller does with each is the same whichever comes first).
    #[inline]
    pub fn pop_due(&mut self, now: Time) -> Option<(Time, NodeId)> {
        for lane in &mut self.lanes {
            if lane.front().is_some_and(|&(at, _)| at <= now) {
                return lane.pop_front();
            }
        }
        if self.heap.peek().is_some_and(|r| r.0.0 <= now) {
            return self.heap.pop().map(|r| r.0);
        }
        None
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Time, NodeId)> + '_ {
        (self.lanes.iter().flatten().copied()).chain(self.heap.iter().map(|r| r.0))
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.lanes.iter().map(|l| l.len()).sum::<usize>() + self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the order of pushes, each promotion takes exactly the entries due by then,
        /// each once.
        #[test]
        fn takes_exactly_the_entries_due(
            pushes in prop::collection::vec((0u64..1_000, 0u32..50), 0..200),
            steps in prop::collection::vec(0u64..1_000, 1..20),
        ) {
            let mut q = ExemptQueue::default();
            let mut model: Vec<(Time, NodeId)> = Vec::new();
            let mut steps = steps;
            steps.sort_unstable();
            let mut pushes = pushes.into_iter();
            for now in steps {
                for (at, id) in pushes.by_ref().take(10) {
                    q.push(at, id);
                    model.push((at, id));
                }
                let mut got = Vec::new();
                while let Some(e) = q.pop_due(now) {
                    got.push(e);
                }
                let mut want: Vec<_> = model.iter().copied().filter(|e| e.0 <= now).collect();
                model.retain(|e| e.0 > now);
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want);
                let mut left: Vec<_> = q.iter().collect();
                left.sort_unstable();
                let mut m = model.clone();
                m.sort_unstable();
                prop_assert_eq!(left, m);
                prop_assert_eq!(q.len(), model.len());
            }
        }
    }

    #[test]
    fn ends_of_one_delay_stay_in_one_lane() {
        let mut q = ExemptQueue::default();
        for now in 0..100u64 {
            q.push(now + 600, now as NodeId);
            q.push(now + 1_680, 1_000 + now as NodeId);
        }
        assert_eq!(q.lanes.len(), 2);
        assert!(q.heap.is_empty());
    }
}
