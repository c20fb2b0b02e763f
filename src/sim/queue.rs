//! The queue of waiting requests, grouped by class (workload, gang size): members of a class
//! are identical but for arrival order, so a placement pass asks only about each class's head.
//! Each key names its class, so finding, taking and adding a request touch one small ordered
//! map of its class instead of one map of every waiting request.

use std::collections::BTreeMap;

use super::request::{QueueKey, Request};

/// A class of requests: (workload, gang size).
pub type Class = (usize, u32);

#[derive(Clone, Debug, Default)]
pub struct Queue {
    classes: BTreeMap<Class, BTreeMap<QueueKey, Request>>,
    len: usize,
}

impl Queue {
    pub fn insert(&mut self, key: QueueKey, req: Request) {
        debug_assert_eq!(key.class(), (req.workload, req.gang));
        if self
            .classes
            .entry(key.class())
            .or_default()
            .insert(key, req)
            .is_none()
        {
            self.len += 1;
        }
    }

    pub fn get(&self, key: &QueueKey) -> Option<&Request> {
        self.classes.get(&key.class())?.get(key)
    }

    pub fn remove(&mut self, key: &QueueKey) -> Option<Request> {
        let class = key.class();
        let members = self.classes.get_mut(&class)?;
        let req = members.remove(key)?;
        if members.is_empty() {
            self.classes.remove(&class);
        }
        self.len -= 1;
        Some(req)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first key of every class, by class.
    pub fn heads(&self) -> impl Iterator<Item = (Class, QueueKey)> + '_ {
        (self.classes.iter()).filter_map(|(&c, m)| m.keys().next().map(|&k| (c, k)))
    }

    /// The first key of class `c`.
    pub fn head_of(&self, c: Class) -> Option<QueueKey> {
        self.classes.get(&c)?.keys().next().copied()
    }

    /// The first key of `key`'s class at or after `key`.
    pub fn next_in_class(&self, key: &QueueKey) -> Option<QueueKey> {
        let members = self.classes.get(&key.class())?;
        members.range(key..).next().map(|(&k, _)| k)
    }

    /// Every waiting request (by class, then queue order).
    pub fn values(&self) -> impl Iterator<Item = &Request> + '_ {
        self.classes.values().flat_map(|m| m.values())
    }
}
