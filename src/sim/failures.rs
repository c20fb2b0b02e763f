//! Failures and repair: drawing node failures at the rate of the GPUs that are up, taking a
//! node down with its work, and bringing it back.

use rand::RngExt;

use crate::fleet::NodeId;
use crate::fleet::cluster::{GpuState, NONE};
use crate::units::{from_secs_f64, secs};

use super::engine::{End, Engine, Ev};

impl Engine {
    /// Expected failures per hour of each GPU type's GPUs that are up (a node that is down
    /// cannot fail again).
    pub(super) fn failure_rates(&self) -> Vec<f64> {
        (0..self.sc.gpu_types.len())
            .map(|t| {
                let up = self.cluster.type_gpus[t] as u64
                    - self.cluster.state_count[t][GpuState::Down as usize];
                up as f64 * self.sc.gpu_types[t].failures_per_gpu_hour
            })
            .collect()
    }

    /// Draws the next failure at the rate of the GPUs up now, replacing any pending one (the
    /// process is memoryless, so drawing afresh whenever the rate changes is exact): failure
    /// events are then bounded by the fleet's repairs, not by the rate.
    pub(super) fn schedule_failure(&mut self) {
        self.failure_gen = self.failure_gen.wrapping_add(1);
        let rates = self.failure_rates();
        let total: f64 = rates.iter().sum();
        if total <= 0.0 {
            return;
        }
        let u: f64 = self.failure_rng.random();
        let gap_h = -(1.0 - u).ln() / total;
        let at = self.now.saturating_add(from_secs_f64(gap_h * 3_600.0));
        if at < self.sc.horizon {
            self.push(Ev::Failure(self.failure_gen), at);
        }
    }

    pub(super) fn failure(&mut self) {
        let rates = self.failure_rates();
        let total: f64 = rates.iter().sum();
        let mut x = self.failure_rng.random::<f64>() * total;
        let mut t = 0;
        while t + 1 < rates.len() && (x >= rates[t] || rates[t] == 0.0) {
            x -= rates[t];
            t += 1;
        }
        // A node of that type that is up, uniformly: drawn until one is (the rate says some
        // are; most are, as a rule), else the first up one after the last draw.
        let nodes = &self.type_nodes[t];
        let mut n = nodes[self.failure_rng.random_range(0..nodes.len())];
        for _ in 0..64 {
            if !self.cluster.nodes[n as usize].down {
                break;
            }
            n = nodes[self.failure_rng.random_range(0..nodes.len())];
        }
        if self.cluster.nodes[n as usize].down {
            let i = nodes.iter().position(|&m| m == n).expect("listed");
            n = (nodes[i..].iter().chain(&nodes[..i]))
                .copied()
                .find(|&m| !self.cluster.nodes[m as usize].down)
                .expect("a type with a failure rate has a node up");
        }
        self.fail_node(n);
        self.schedule_failure();
    }

    pub(super) fn fail_node(&mut self, n: NodeId) {
        self.stats.failures += 1;
        tracing::debug!(t_s = secs(self.now), node = n, "node failed");
        let victims: Vec<u32> = self.cluster.nodes[n as usize].allocs().collect();
        for id in victims {
            self.release(id, End::Failed);
        }
        self.cluster.update_node(n, |node| {
            node.down = true;
            node.free = 0;
            node.switch_until = 0;
        });
        let (first, count) = {
            let node = &self.cluster.nodes[n as usize];
            (node.first_gpu, node.gpus)
        };
        for g in first..first + count {
            self.cluster.set_gpu_state(g, GpuState::Down);
            self.cluster.gpu[g as usize].workflow = NONE;
        }
        let repair = self.sc.gpu_types[self.cluster.nodes[n as usize].gpu_type].repair_time;
        self.push(Ev::Repair(n), self.now + repair);
    }

    pub(super) fn repair(&mut self, n: NodeId) {
        let (first, count) = {
            let node = &self.cluster.nodes[n as usize];
            (node.first_gpu, node.gpus)
        };
        for g in first..first + count {
            self.cluster.set_gpu_state(g, GpuState::Idle);
        }
        self.cluster.update_node(n, |node| {
            node.down = false;
            node.free = node.gpus;
        });
        self.dirty = true;
        if self.sc.failures {
            self.schedule_failure();
        }
    }
}
