//! Facility energy: each GPU's board power in its state (a share of TDP), a host share per GPU
//! while its node is up, times PUE, integrated per GPU type as the ledger books time, and a
//! profile of mean power in fixed intervals for the peak.

use crate::fleet::cluster::{GpuState, N_STATES};
use crate::fleet::types::Power;
use crate::units::{Time, US_PER_SEC};

/// Intervals of the power profile: 15 minutes (a utility's demand interval), widened so a
/// long horizon keeps at most [`MAX_BINS`] of them.
pub const BIN: Time = 15 * 60 * US_PER_SEC;
pub const MAX_BINS: u64 = 100_000;

/// Energy booked per GPU type, exactly as the ledger books GPU time, and its profile.
#[derive(Clone, Debug)]
pub struct Energy {
    power: Vec<Power>,
    /// Facility joules per type.
    pub joules: Vec<f64>,
    bin: Time,
    horizon: Time,
    /// Per type: joules booked inside one bin, and watts starting (+) or ending (-) for
    /// whole bins from each bin on (a difference array).
    partial: Vec<Vec<f64>>,
    whole: Vec<Vec<f64>>,
    /// The last interval booked inside: [start, end) and its index.
    cur: (Time, Time),
    cur_i: usize,
    /// Per type: idle-and-host power drawn since a time and not booked yet (it is booked
    /// when it changes, or by [`Energy::flush`]).
    steady: Vec<(Time, Time, f64)>,
}

impl Energy {
    pub fn new(power: Vec<Power>, horizon: Time) -> Self {
        let bin = BIN.max(horizon.div_ceil(MAX_BINS));
        let bins = horizon.div_ceil(bin).max(1) as usize + 1;
        let n = power.len();
        Energy {
            power,
            joules: vec![0.0; n],
            bin,
            horizon,
            partial: vec![vec![0.0; bins]; n],
            whole: vec![vec![0.0; bins + 1]; n],
            cur: (0, 0),
            cur_i: 0,
            steady: vec![(0, 0, 0.0); n],
        }
    }

    /// Board watts (PUE included, host excluded) per GPU of type `t` in `state`.
    #[inline]
    pub fn board_w(&self, t: usize, state: GpuState, compute_bound: bool) -> f64 {
        let p = &self.power[t];
        p.share(state, compute_bound) * p.tdp_w * p.pue
    }

    /// Host watts (PUE included) per GPU of type `t` while its node is up.
    #[inline]
    pub fn host_w(&self, t: usize) -> f64 {
        let p = &self.power[t];
        p.host_w * p.pue
    }

    /// Books `watts` drawn by type `t` from `from` to `to`.
    #[inline]
    pub fn book(&mut self, t: usize, watts: f64, from: Time, to: Time) {
        if to <= from || watts == 0.0 {
            return;
        }
        const PER_US: f64 = 1.0 / US_PER_SEC as f64;
        let j = |us: Time| watts * us as f64 * PER_US;
        self.joules[t] += j(to - from);
        // Most bookings (every event's idle and host power) fall inside the interval of the
        // last one: no division then.
        if from >= self.cur.0 && to < self.cur.1 {
            self.partial[t][self.cur_i] += j(to - from);
            return;
        }
        let (b, last) = (self.bin, self.partial[t].len() - 1);
        let (i0, i1) = ((from / b) as usize, (to / b) as usize);
        let (i0, i1) = (i0.min(last), i1.min(last));
        if i0 == i1 {
            self.cur = (i0 as Time * b, (i0 as Time + 1) * b);
            self.cur_i = i0;
            self.partial[t][i0] += j(to - from);
            return;
        }
        self.partial[t][i0] += j((i0 as Time + 1) * b - from);
        self.partial[t][i1] += j(to - i1 as Time * b);
        if i1 > i0 + 1 {
            self.whole[t][i0 + 1] += watts;
            self.whole[t][i1] -= watts;
        }
    }

    /// Books `watts` of steady draw by type `t` from `from` to `to`, which follows the last
    /// steady booking of the type: runs of equal power are booked once, as one interval.
    #[inline]
    pub fn book_steady(&mut self, t: usize, watts: f64, from: Time, to: Time) {
        let (start, end, w) = self.steady[t];
        if w == watts && end == from {
            self.steady[t].1 = to;
            return;
        }
        self.book(t, w, start, end);
        self.steady[t] = (from, to, watts);
    }

    /// Books every steady draw not booked yet (before reading the figures).
    pub fn flush(&mut self) {
        for t in 0..self.steady.len() {
            let (start, end, w) = std::mem::replace(&mut self.steady[t], (0, 0, 0.0));
            self.book(t, w, start, end);
            self.steady[t] = (end, end, 0.0);
        }
    }

    /// Mean facility power of each interval of type `t`, in watts (the last interval may be
    /// shorter than the others).
    pub fn profile(&self, t: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.partial[t].len());
        let mut w = 0.0;
        for i in 0..self.partial[t].len() {
            w += self.whole[t][i];
            let start = i as Time * self.bin;
            if start >= self.horizon {
                break;
            }
            let len = self.bin.min(self.horizon - start);
            let j = self.partial[t][i] + w * self.bin as f64 / US_PER_SEC as f64;
            out.push(j / (len as f64 / US_PER_SEC as f64));
        }
        out
    }

    /// Length of the profile's intervals.
    pub fn bin(&self) -> Time {
        self.bin
    }

    /// The energy the ledger's GPU-state time implies, per type, in joules: each state's
    /// GPU-µs at its board power (busy split into compute-bound and decode-bound time), plus
    /// the host share of every GPU-µs not down. The booked `joules` must equal it.
    pub fn implied(&self, state_us: &[[u128; N_STATES]], busy_compute_us: &[u128]) -> Vec<f64> {
        let s = |us: u128| us as f64 / US_PER_SEC as f64;
        (0..self.power.len())
            .map(|t| {
                let st = &state_us[t];
                let busy = st[GpuState::Busy as usize];
                let compute = busy_compute_us[t];
                let mut j = s(compute) * self.board_w(t, GpuState::Busy, true)
                    + s(busy - compute) * self.board_w(t, GpuState::Busy, false);
                for state in [
                    GpuState::Idle,
                    GpuState::TenantSwitch,
                    GpuState::WorkflowSwitch,
                ] {
                    j += s(st[state as usize]) * self.board_w(t, state, false);
                }
                let up: u128 = st.iter().sum::<u128>() - st[GpuState::Down as usize];
                j + s(up) * self.host_w(t)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power() -> Power {
        Power {
            tdp_w: 1000.0,
            busy: 1.0,
            decode: 0.5,
            idle: 0.1,
            switching: 0.1,
            host_w: 200.0,
            pue: 1.5,
        }
    }

    #[test]
    fn profile_spreads_energy_over_intervals_exactly() {
        let h = 4 * BIN;
        let mut e = Energy::new(vec![power()], h);
        // 1 kW from mid-interval 0 to mid-interval 2, 2 kW across interval 3 only.
        e.book(0, 1000.0, BIN / 2, 5 * BIN / 2);
        e.book(0, 2000.0, 3 * BIN, 4 * BIN);
        let p = e.profile(0);
        assert_eq!(p.len(), 4);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1.0);
        assert!(close(p[0], 500.0) && close(p[1], 1000.0) && close(p[2], 500.0));
        assert!(close(p[3], 2000.0));
        let total: f64 = p.iter().map(|w| w * BIN as f64 / 1e6).sum();
        assert!(close(total, e.joules[0]));
    }

    #[test]
    fn watts_follow_the_state() {
        let e = Energy::new(vec![power()], BIN);
        assert_eq!(e.host_w(0), 300.0);
        assert_eq!(e.board_w(0, GpuState::Busy, true), 1500.0);
        assert_eq!(e.board_w(0, GpuState::Busy, false), 750.0);
        assert_eq!(e.board_w(0, GpuState::Idle, false), 150.0);
    }
}
