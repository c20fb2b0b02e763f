//! A fixed-capacity ordered set of small integers (node and domain ids) as a two-level bitset.
//!
//! The cluster indexes change on every placement and release and are walked in fleet order by
//! every policy. A `BTreeSet<u32>` of tens of thousands of nodes costs a cache-missing tree
//! search per insert and remove; here both are one bit flip (plus a summary bit), and ordered
//! iteration from any point skips empty stretches 4,096 ids at a time through the summary.
//! (`hibitset` has no iteration from a point and no count; `roaring` keeps small containers
//! as sorted arrays, so an insert shifts memory.)

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
    /// Bit `w` set when `words[w]` is not zero.
    summary: Vec<u64>,
    len: usize,
}

impl BitSet {
    /// An empty set for ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        let words = capacity.div_ceil(64);
        BitSet {
            words: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, i: u32) -> bool {
        let i = i as usize;
        self.words
            .get(i / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// Adds `i`; returns whether it was absent. Panics beyond the capacity (an index bug).
    pub fn insert(&mut self, i: u32) -> bool {
        let i = i as usize;
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if self.words[w] & b != 0 {
            return false;
        }
        self.words[w] |= b;
        self.summary[w / 64] |= 1 << (w % 64);
        self.len += 1;
        true
    }

    /// Removes `i`; returns whether it was present.
    pub fn remove(&mut self, i: u32) -> bool {
        let i = i as usize;
        let (w, b) = (i / 64, 1u64 << (i % 64));
        match self.words.get(w) {
            Some(x) if x & b != 0 => {}
            _ => return false,
        }
        self.words[w] &= !b;
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.len -= 1;
        true
    }

    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.summary.iter_mut().for_each(|w| *w = 0);
        self.len = 0;
    }

    /// The smallest member at least `from`.
    pub fn next_from(&self, from: u32) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let from = from as usize;
        let w = from / 64;
        let here = *self.words.get(w)? & (u64::MAX << (from % 64));
        if here != 0 {
            return Some((w * 64 + here.trailing_zeros() as usize) as u32);
        }
        // The next non-empty word after `w`, through the summary.
        let next = w + 1;
        let mut s = next / 64;
        let mut mask = if next.is_multiple_of(64) {
            u64::MAX
        } else {
            u64::MAX << (next % 64)
        };
        while s < self.summary.len() {
            let bits = self.summary[s] & mask;
            if bits != 0 {
                let word = s * 64 + bits.trailing_zeros() as usize;
                let x = self.words[word];
                return Some((word * 64 + x.trailing_zeros() as usize) as u32);
            }
            s += 1;
            mask = u64::MAX;
        }
        None
    }

    pub fn first(&self) -> Option<u32> {
        self.next_from(0)
    }

    /// Members in increasing order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Members at least `from`, in increasing order.
    pub fn iter_from(&self, from: u32) -> Iter<'_> {
        Iter {
            set: self,
            next: Some(from),
        }
    }
}

pub struct Iter<'a> {
    set: &'a BitSet,
    next: Option<u32>,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let found = self.set.next_from(self.next?);
        self.next = found.and_then(|x| x.checked_add(1));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Any sequence of inserts and removes leaves the same members, count and ordered
        /// iteration (from any point) as a `BTreeSet`.
        #[test]
        fn behaves_like_a_btreeset(
            cap in 1usize..20_000,
            ops in prop::collection::vec((any::<bool>(), 0usize..20_000), 0..400),
            from in 0u32..20_100,
        ) {
            let mut b = BitSet::new(cap);
            let mut r = BTreeSet::new();
            for (add, i) in ops {
                let i = (i % cap) as u32;
                if add {
                    prop_assert_eq!(b.insert(i), r.insert(i));
                } else {
                    prop_assert_eq!(b.remove(i), r.remove(&i));
                }
                prop_assert_eq!(b.len(), r.len());
            }
            prop_assert!(b.iter().eq(r.iter().copied()));
            prop_assert!(b.iter_from(from).eq(r.range(from..).copied()));
            prop_assert_eq!(b.first(), r.first().copied());
            for &i in &r {
                prop_assert!(b.contains(i));
            }
            prop_assert!(!b.contains(cap as u32 + 5));
        }
    }

    #[test]
    fn spans_summary_words() {
        let mut b = BitSet::new(1 << 20);
        for i in [0u32, 63, 64, 4095, 4096, 300_000, (1 << 20) - 1] {
            b.insert(i);
        }
        let got: Vec<u32> = b.iter().collect();
        assert_eq!(got, [0, 63, 64, 4095, 4096, 300_000, (1 << 20) - 1]);
        assert_eq!(b.next_from(4097), Some(300_000));
        b.remove(300_000);
        assert_eq!(b.next_from(4097), Some((1 << 20) - 1));
        b.clear();
        assert!(b.is_empty() && b.first().is_none());
    }
}
