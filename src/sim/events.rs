//! The pending-event queue. Events wait unsorted in buckets of simulated time; when a bucket
//! comes up its events are sorted once and taken from the end of that list, and events pushed
//! into the bucket already under way go to a small binary heap beside it. At fleet scale
//! hundreds of thousands of allocations each hold one pending event, mostly hours away: they
//! then cost an append now and their share of one sort later, instead of a sift through a heap
//! each on the way in and out. The buckets are a two-level wheel: the next three days in
//! coarse buckets of about 72 minutes, and the coarse bucket under way split into fine ones
//! of about a minute, which are the ones sorted. An append then goes to one of 128
//! bucket ends, which stay in cache, where one ring of four thousand fine buckets missed the
//! cache at nearly every append; each event is copied once more, in order, when its coarse
//! bucket is split. The vectors are reused (a bucket's vector becomes the sorted list, and the
//! list's emptied one takes its place); buckets beyond the wheel wait in an ordered map. Order
//! is exactly (time, push order), as with one heap. Events that have gone stale by the time
//! their fine bucket comes up (the allocation they were for was preempted or released) are
//! dropped then instead of being sorted and taken.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::units::Time;

/// Fine bucket width: 2^26 µs, about 67 s of simulated time.
const BUCKET_SHIFT: u32 = 26;
/// Fine buckets per coarse one: a coarse bucket is 2^32 µs, about 72 min.
const FINE_BITS: u32 = 6;
const FINE: u64 = 1 << FINE_BITS;
/// Coarse buckets in the wheel: 64 x 72 min, about 76 h.
const COARSE: u64 = 64;

type Entry<E> = (Time, u64, E);

#[derive(Clone, Debug)]
pub struct EventQueue<E: Ord + Copy> {
    /// The current fine bucket's events as loaded, latest first (the next one is the last).
    sorted: Vec<Entry<E>>,
    /// Events pushed into the current fine bucket (or an earlier time) after it was loaded.
    heap: BinaryHeap<Reverse<Entry<E>>>,
    /// Fine bucket `b` in `current + 1 ..` the end of the current coarse bucket at
    /// `fine[b % FINE]`.
    fine: Vec<Vec<Entry<E>>>,
    /// Events in `fine`.
    in_fine: usize,
    /// Coarse bucket `c` in `coarse_at + 1 .. coarse_at + COARSE` at `coarse[c % COARSE]`.
    coarse: Vec<Vec<Entry<E>>>,
    /// Events in `coarse`.
    in_coarse: usize,
    /// Coarse buckets at `coarse_at + COARSE` or later when pushed (a coarse bucket may have
    /// events both here and in the wheel once `coarse_at` has moved on).
    far: BTreeMap<u64, Vec<Entry<E>>>,
    /// The latest fine bucket whose events are in the heap.
    current: u64,
    /// The coarse bucket split into `fine`.
    coarse_at: u64,
    len: usize,
}

impl<E: Ord + Copy> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            sorted: Vec::new(),
            heap: BinaryHeap::new(),
            fine: vec![Vec::new(); FINE as usize],
            in_fine: 0,
            coarse: vec![Vec::new(); COARSE as usize],
            in_coarse: 0,
            far: BTreeMap::new(),
            current: 0,
            coarse_at: 0,
            len: 0,
        }
    }
}

impl<E: Ord + Copy> EventQueue<E> {
    /// Adds event `e` at time `at`; `seq` orders events at the same time (push order).
    #[inline]
    pub fn push(&mut self, at: Time, seq: u64, e: E) {
        self.len += 1;
        let bucket = at >> BUCKET_SHIFT;
        let coarse = bucket >> FINE_BITS;
        if bucket <= self.current {
            self.heap.push(Reverse((at, seq, e)));
        } else if coarse == self.coarse_at {
            self.fine[(bucket % FINE) as usize].push((at, seq, e));
            self.in_fine += 1;
        } else if coarse < self.coarse_at + COARSE {
            self.coarse[(coarse % COARSE) as usize].push((at, seq, e));
            self.in_coarse += 1;
        } else {
            self.far.entry(coarse).or_default().push((at, seq, e));
        }
    }

    /// Splits the next coarse bucket with events into the fine buckets (which are empty).
    fn next_coarse(&mut self) {
        let next_far = self.far.first_key_value().map(|(&c, _)| c);
        let c = if self.in_coarse == 0 {
            // Nothing in the wheel: jump straight to the first far bucket.
            match next_far {
                Some(c) => c,
                None => return,
            }
        } else {
            self.coarse_at + 1
        };
        self.coarse_at = c;
        // Before the first fine bucket of `c` (`c` > 0: bucket 0 was split at the start).
        self.current = (c << FINE_BITS) - 1;
        let mut events = std::mem::take(&mut self.coarse[(c % COARSE) as usize]);
        self.in_coarse -= events.len();
        if next_far == Some(c) {
            let (_, far) = self.far.pop_first().expect("peeked");
            events.extend(far);
        }
        self.in_fine += events.len();
        for e in events.drain(..) {
            self.fine[((e.0 >> BUCKET_SHIFT) % FINE) as usize].push(e);
        }
        // The emptied vector, with its capacity, takes the bucket's place again.
        self.coarse[(c % COARSE) as usize] = events;
    }

    /// Makes sure the sorted list or the heap holds the earliest live event, if any; `live`
    /// says whether an event still matters (a stale one stays stale).
    fn fill(&mut self, live: &impl Fn(&E) -> bool) {
        while self.sorted.is_empty() && self.heap.is_empty() && self.len > 0 {
            if self.in_fine == 0 {
                self.next_coarse();
                if self.in_fine == 0 {
                    continue;
                }
            }
            let bucket = self.current + 1;
            self.current = bucket;
            // The bucket's vector becomes the sorted list, and the list's (empty, with its
            // capacity) takes the bucket's place.
            let slot = &mut self.fine[(bucket % FINE) as usize];
            self.in_fine -= slot.len();
            std::mem::swap(&mut self.sorted, slot);
            let before = self.sorted.len();
            self.sorted.retain(|e| live(&e.2));
            self.len -= before - self.sorted.len();
            // Keys (time, push order) are unique, so an unstable sort gives the one order.
            self.sorted.sort_unstable_by_key(|e| Reverse((e.0, e.1)));
        }
    }

    /// The earliest of the sorted list's next and the heap's: true for the list.
    #[inline]
    fn next_is_sorted(&self) -> bool {
        match (self.sorted.last(), self.heap.peek()) {
            (Some(s), Some(Reverse(h))) => (s.0, s.1) < (h.0, h.1),
            (s, _) => s.is_some(),
        }
    }

    /// Time of the earliest event.
    pub fn peek_time(&mut self, live: &impl Fn(&E) -> bool) -> Option<Time> {
        self.fill(live);
        if self.next_is_sorted() {
            self.sorted.last().map(|e| e.0)
        } else {
            self.heap.peek().map(|r| r.0.0)
        }
    }

    /// Takes the earliest event.
    pub fn pop(&mut self, live: &impl Fn(&E) -> bool) -> Option<(Time, E)> {
        self.fill(live);
        let (t, _, e) = if self.next_is_sorted() {
            self.sorted.pop()?
        } else {
            self.heap.pop()?.0
        };
        self.len -= 1;
        Some((t, e))
    }

    /// The event `k` places after the next in the sorted list of the fine bucket under way,
    /// if it holds that many (events in the heap beside it are not counted): a look ahead for
    /// hints to the cache, which may name a stale event.
    #[inline]
    pub fn sorted_ahead(&self, k: usize) -> Option<&E> {
        let n = self.sorted.len();
        (n > k).then(|| &self.sorted[n - 1 - k].2)
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
    fn the_look_ahead_names_the_events_to_come_in_the_bucket() {
        let mut q = EventQueue::default();
        for i in 0..5u64 {
            q.push(1 << 27 | (10 - i), i, i as usize);
        }
        let live = |_: &usize| true;
        assert_eq!(q.pop(&live), Some((1 << 27 | 6, 4)));
        // Left, in order: 3, 2, 1, 0.
        assert_eq!(q.sorted_ahead(0), Some(&3));
        assert_eq!(q.sorted_ahead(2), Some(&1));
        assert_eq!(q.sorted_ahead(3), Some(&0));
        assert_eq!(q.sorted_ahead(4), None);
    }

    proptest::proptest! {
        /// Events near, in the ring and far beyond it, some pushed while popping, come out as
        /// from one sorted list. Stale events waiting in a later bucket never come out; those
        /// pushed into the bucket being drained go straight to the heap and do (the engine
        /// skips them by their generation).
        #[test]
        fn order_matches_a_sort_across_ring_and_far_buckets(
            first in proptest::collection::vec((0u64..1 << 40, 0usize..10), 1..200),
            later in proptest::collection::vec((0u64..1 << 40, 0usize..10), 0..100),
        ) {
            let live = |e: &(u64, usize)| e.1 != 0;
            let mut q = EventQueue::default();
            let mut want = Vec::new();
            let mut seq = 0u64;
            // Stale events pushed into the current bucket: they come out.
            let mut direct_stale = Vec::new();
            for &(t, k) in &first {
                q.push(t, seq, (seq, k));
                want.push((t, seq, k));
                if k == 0 && t >> BUCKET_SHIFT == 0 {
                    direct_stale.push((t, seq, k));
                }
                seq += 1;
            }
            let mut later = later.into_iter();
            let mut out = Vec::new();
            while let Some((t, (s, k))) = q.pop(&live) {
                out.push((t, s, k));
                if let Some((dt, k)) = later.next() {
                    // Pushed while running: never earlier than now.
                    q.push(t + dt, seq, (seq, k));
                    want.push((t + dt, seq, k));
                    if k == 0 && (t + dt) >> BUCKET_SHIFT <= t >> BUCKET_SHIFT {
                        direct_stale.push((t + dt, seq, k));
                    }
                    seq += 1;
                }
            }
            let got_times: Vec<u64> = out.iter().map(|e| e.0).collect();
            let mut sorted = got_times.clone();
            sorted.sort();
            proptest::prop_assert_eq!(&got_times, &sorted);
            proptest::prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0 || w[0].1 < w[1].1));
            let mut expected: Vec<_> = want.into_iter().filter(|e| e.2 != 0).collect();
            expected.extend(direct_stale);
            expected.sort();
            // Every live event pushed came out, once, and of the stale ones only those.
            let mut got = out.clone();
            got.sort();
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert!(q.is_empty());
        }
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
