//! The pending-event queue. Events of the near future sit in a binary heap; later ones wait
//! unsorted in buckets of simulated time and enter the heap when their bucket comes up. At
//! fleet scale hundreds of thousands of allocations each hold one pending event, mostly hours
//! away: they then cost an append now and one heap insertion later, and the heap stays small
//! enough to live in cache. Order is exactly (time, push order), as with one heap. Events that
//! have gone stale by the time their bucket comes up (the allocation they were for was
//! preempted or released) are dropped then instead of being sorted and popped.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::units::Time;

/// Bucket width: 2^26 µs, about 67 s of simulated time.
const BUCKET_SHIFT: u32 = 26;

#[derive(Clone, Debug)]
pub struct EventQueue<E: Ord + Copy> {
    heap: BinaryHeap<Reverse<(Time, u64, E)>>,
    /// Buckets after `current`, by bucket number.
    later: BTreeMap<u64, Vec<(Time, u64, E)>>,
    /// The latest bucket whose events are in the heap.
    current: u64,
    len: usize,
}

impl<E: Ord + Copy> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            later: BTreeMap::new(),
            current: 0,
            len: 0,
        }
    }
}

impl<E: Ord + Copy> EventQueue<E> {
    /// Adds event `e` at time `at`; `seq` orders events at the same time (push order).
    pub fn push(&mut self, at: Time, seq: u64, e: E) {
        self.len += 1;
        let bucket = at >> BUCKET_SHIFT;
        if bucket <= self.current {
            self.heap.push(Reverse((at, seq, e)));
        } else {
            self.later.entry(bucket).or_default().push((at, seq, e));
        }
    }

    /// Makes sure the heap holds the earliest live event, if any; `live` says whether an event
    /// still matters (a stale one stays stale).
    fn fill(&mut self, live: &impl Fn(&E) -> bool) {
        while self.heap.is_empty() {
            let Some((bucket, events)) = self.later.pop_first() else {
                return;
            };
            self.current = bucket;
            let before = events.len();
            self.heap
                .extend(events.into_iter().filter(|e| live(&e.2)).map(Reverse));
            self.len -= before - self.heap.len();
        }
    }

    /// Time of the earliest event.
    pub fn peek_time(&mut self, live: &impl Fn(&E) -> bool) -> Option<Time> {
        self.fill(live);
        self.heap.peek().map(|r| r.0.0)
    }

    /// Takes the earliest event.
    pub fn pop(&mut self, live: &impl Fn(&E) -> bool) -> Option<(Time, E)> {
        self.fill(live);
        let Reverse((t, _, e)) = self.heap.pop()?;
        self.len -= 1;
        Some((t, e))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_push_order_across_buckets() {
        let mut q = EventQueue::default();
        let times = [5u64 << 27, 3, 1 << 30, 3, 7 << 26, 0, 1 << 30];
        for (i, &t) in times.iter().enumerate() {
            q.push(t, i as u64, i);
        }
        let mut out = Vec::new();
        let live = |_: &usize| true;
        while let Some((t, e)) = q.pop(&live) {
            out.push((t, e));
            if e == 1 {
                // Pushed while running: into the heap (its bucket is current) or a later one.
                q.push(4, 100, 100);
                q.push(1 << 29, 101, 101);
            }
        }
        let mut want: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
        want.push((4, 100));
        want.push((1 << 29, 101));
        want.sort(); // by time, then push order (the payload here is the push order)
        assert_eq!(out, want);
        assert!(q.is_empty());
    }

    #[test]
    fn stale_events_in_later_buckets_are_dropped() {
        let mut q = EventQueue::default();
        for (i, t) in [1u64 << 27, 1 << 28, 1 << 29].into_iter().enumerate() {
            q.push(t, i as u64, i);
        }
        let live = |e: &usize| *e != 1;
        assert_eq!(q.pop(&live), Some((1 << 27, 0)));
        assert_eq!(q.pop(&live), Some((1 << 29, 2)));
        assert_eq!(q.pop(&live), None);
        assert!(q.is_empty());
    }
}
