//! The queue of waiting requests, grouped by class (workload, gang size): members of a class
//! are identical but for arrival order, so a placement pass asks only about each class's head.
//! Each key names its class, so finding, taking and adding a request touch one small ordered
//! map of its class instead of one map of every waiting request.

use std::collections::BTreeMap;

use super::request::{QueueKey, Target};
use crate::units::Time;

/// A class of requests: (workload, gang size).
pub type Class = (usize, u32);

/// The heads of the classes during a placement pass, earliest first, at most one key per
/// class, so a class's head can move up when earlier work of the class enters during the pass.
/// A list kept sorted (latest first, so the earliest pops off the end): a fleet has tens of
/// classes, and a pass rebuilds the list and takes from it millions of times in a large run,
/// where a keyed heap with its hash map cost 10 % of the instructions.
#[derive(Clone, Debug, Default)]
pub struct ClassHeads {
    keys: Vec<QueueKey>,
}

impl ClassHeads {
    /// Replaces the contents with `heads`, one key per class.
    pub fn reset(&mut self, heads: impl Iterator<Item = QueueKey>) {
        self.keys.clear();
        self.keys.extend(heads);
        self.keys.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Makes `key` its class's head unless the class has an earlier one.
    pub fn push_increase(&mut self, key: QueueKey) {
        if let Some(i) = self.keys.iter().position(|k| k.class() == key.class()) {
            if self.keys[i] <= key {
                return;
            }
            self.keys.remove(i);
        }
        let at = self.keys.partition_point(|k| *k > key);
        self.keys.insert(at, key);
    }

    /// Takes the earliest head.
    pub fn pop(&mut self) -> Option<QueueKey> {
        self.keys.pop()
    }
}

/// The members of one class in queue order, by (arrival, submission order), with what the
/// class has in common (priority, kind, workload, gang) kept once.
#[derive(Clone, Debug)]
struct Members {
    shared: QueueKey,
    order: BTreeMap<(Time, u64), Target>,
    /// The first entry of `order`, kept beside it: every placement pass reads each class's
    /// head, and a map of a million entries would be walked from its root each time.
    first: Option<((Time, u64), Target)>,
}

impl Members {
    fn key(&self, &(arrival, seq): &(Time, u64)) -> QueueKey {
        QueueKey {
            arrival,
            seq,
            ..self.shared
        }
    }
}

/// Waiting work as keys and targets only: a request is rebuilt from its job or service when
/// offered. Up to a million requests wait in a gigawatt run (evicted batch jobs), and small
/// entries keep the ordered maps shallow and cache-friendly.
///
/// Classes sit in a list in the order they first appeared, found through a table by workload
/// of (gang size, place in the list): every placement pass walks all classes for their heads
/// and looks several up, and a list and a short scan cost a few instructions where an ordered
/// map cost tens (a workload has a handful of gang sizes).
#[derive(Clone, Debug, Default)]
pub struct Queue {
    index: Vec<Vec<(u32, usize)>>,
    classes: Vec<Members>,
    len: usize,
}

impl Queue {
    fn position(&self, (w, gang): Class) -> Option<usize> {
        let gangs = self.index.get(w)?;
        gangs.iter().find(|g| g.0 == gang).map(|g| g.1)
    }

    fn members(&self, c: Class) -> Option<&Members> {
        self.position(c).map(|i| &self.classes[i])
    }

    pub fn insert(&mut self, key: QueueKey, target: Target) {
        let i = match self.position(key.class()) {
            Some(i) => i,
            None => {
                let (w, gang) = key.class();
                if self.index.len() <= w {
                    self.index.resize_with(w + 1, Vec::new);
                }
                self.index[w].push((gang, self.classes.len()));
                self.classes.push(Members {
                    shared: key,
                    order: BTreeMap::new(),
                    first: None,
                });
                self.classes.len() - 1
            }
        };
        let members = &mut self.classes[i];
        debug_assert_eq!(
            (members.shared.neg_priority, members.shared.kind),
            (key.neg_priority, key.kind),
            "a class shares priority and kind"
        );
        let at = (key.arrival, key.seq);
        if members.order.insert(at, target).is_none() {
            self.len += 1;
        }
        if members.first.is_none_or(|(k, _)| at <= k) {
            members.first = Some((at, target));
        }
    }

    pub fn get(&self, key: &QueueKey) -> Option<Target> {
        let members = self.members(key.class())?;
        let at = (key.arrival, key.seq);
        // Nearly every lookup is of a class's head.
        match members.first {
            Some((k, t)) if k == at => Some(t),
            _ => members.order.get(&at).copied(),
        }
    }

    pub fn remove(&mut self, key: &QueueKey) -> Option<Target> {
        let i = self.position(key.class())?;
        let members = &mut self.classes[i];
        let at = (key.arrival, key.seq);
        let target = if members.first.is_some_and(|(k, _)| k == at) {
            let target = members.order.pop_first()?.1;
            members.first = members.order.first_key_value().map(|(&k, &t)| (k, t));
            target
        } else {
            members.order.remove(&at)?
        };
        // An emptied class keeps its map: a batch class holds one request at a time, and
        // dropping and rebuilding its map cost a free and an allocation on every placement.
        self.len -= 1;
        Some(target)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first key of every class, in no particular order.
    pub fn heads(&self) -> impl Iterator<Item = QueueKey> + '_ {
        (self.classes.iter()).filter_map(|m| m.first.map(|(k, _)| m.key(&k)))
    }

    /// The first key of class `c`.
    pub fn head_of(&self, c: Class) -> Option<QueueKey> {
        let members = self.members(c)?;
        members.first.map(|(k, _)| members.key(&k))
    }

    /// The first key of `key`'s class at or after `key`.
    pub fn next_in_class(&self, key: &QueueKey) -> Option<QueueKey> {
        let members = self.members(key.class())?;
        let at = (key.arrival, key.seq);
        let k = match members.first {
            Some((k, _)) if k >= at => k,
            _ => *members.order.range(at..).next()?.0,
        };
        Some(members.key(&k))
    }

    /// Every waiting request's key and target (by class, then queue order).
    pub fn iter(&self) -> impl Iterator<Item = (QueueKey, Target)> + '_ {
        let mut by_class: Vec<&Members> = self.classes.iter().collect();
        by_class.sort_unstable_by_key(|m| m.shared.class());
        by_class
            .into_iter()
            .flat_map(|m| m.order.iter().map(|(k, &t)| (m.key(k), t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Kind;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A key of workload `w` (its priority and kind follow from it, as a class shares them).
    fn key(w: u32, gang: u32, arrival: Time, seq: u64) -> QueueKey {
        QueueKey {
            neg_priority: -((w % 2) as i64),
            kind: [Kind::Inference, Kind::Training, Kind::Batch][(w % 3) as usize],
            arrival,
            seq,
            workload: w,
            gang,
        }
    }

    proptest! {
        /// The queue and the pass's class heads against plain ordered sets: same members,
        /// same heads, same order of offers.
        #[test]
        fn queue_and_class_heads_match_a_reference(
            ops in prop::collection::vec((0u32..4, 0u32..3, 0u64..50, any::<bool>()), 1..200)
        ) {
            let mut q = Queue::default();
            let mut reference: BTreeSet<QueueKey> = BTreeSet::new();
            for (seq, &(w, gang, arrival, add)) in ops.iter().enumerate() {
                let k = key(w, gang, arrival, seq as u64);
                if add || reference.is_empty() {
                    q.insert(k, Target::Job(seq as u32));
                    reference.insert(k);
                } else {
                    // Take the reference's n-th key, a head or not.
                    let victim = *reference.iter().nth(arrival as usize % reference.len()).unwrap();
                    prop_assert!(q.remove(&victim).is_some());
                    prop_assert!(q.get(&victim).is_none());
                    reference.remove(&victim);
                }
                prop_assert_eq!(q.len(), reference.len());
            }
            for &k in &reference {
                prop_assert!(q.get(&k).is_some());
                let next = reference.range(k..).find(|x| x.class() == k.class()).copied();
                prop_assert_eq!(q.next_in_class(&k), next);
            }
            let listed: Vec<QueueKey> = q.iter().map(|(k, _)| k).collect();
            let mut by_class: Vec<QueueKey> = reference.iter().copied().collect();
            by_class.sort_by_key(|k| (k.class(), k.arrival, k.seq));
            prop_assert_eq!(listed, by_class);

            // The heads come out in queue order, one per class; a pushed earlier key of a
            // class replaces its head, a later one does not.
            let mut heads = ClassHeads::default();
            heads.reset(q.heads());
            let mut want: BTreeMap<Class, QueueKey> = BTreeMap::new();
            for &k in &reference {
                want.entry(k.class()).or_insert(k);
            }
            for (w, gang) in [(0, 0), (1, 2), (3, 1)] {
                let k = key(w, gang, 0, u64::MAX);
                heads.push_increase(k);
                let e = want.entry(k.class()).or_insert(k);
                *e = (*e).min(k);
            }
            let mut popped = Vec::new();
            while let Some(k) = heads.pop() {
                popped.push(k);
            }
            let mut expected: Vec<QueueKey> = want.into_values().collect();
            expected.sort();
            prop_assert_eq!(popped, expected);
        }
    }
}
