//! The GPU-time and token ledger. GPU time is integrated exactly in integer GPU-microseconds:
//! per GPU type and state from the state counts, and per tenant and kind as each phase ends;
//! energy as the same time is booked ([`energy`]); each tenant's contract meter as its
//! holdings and waiting work change ([`meter`]).

pub mod delay;
pub mod energy;
pub mod meter;

pub use energy::Energy;
pub use meter::Meter;

use crate::fleet::Cluster;
use crate::fleet::cluster::{GpuState, N_STATES};
use crate::units::Time;
use crate::workload::Kind;

/// GPU-microseconds and tokens booked to one tenant on one GPU type.
#[derive(Clone, Debug, Default)]
pub struct Account {
    pub productive_us: u128,
    pub tenant_switch_us: u128,
    pub workflow_switch_us: u128,
    /// Output (generated or trained) tokens.
    pub tokens: f64,
    /// Prompt tokens served (replayed traces only).
    pub prompt_tokens: f64,
    /// Work done, in GPU-hours of the work reference type.
    pub work_h: f64,
}

#[derive(Clone, Debug, Default)]
pub struct KindAccount {
    pub productive_us: u128,
    pub switch_us: u128,
    pub tokens: f64,
    pub work_h: f64,
}

/// Durations recorded one at a time (a wait or a completion time per job: tens of millions at
/// fleet scale), in exact microseconds, kept in fixed-size chunks. A doubling vector would
/// copy everything stored at each growth and touch twice the memory; here growing copies
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    chunks: Vec<Vec<Time>>,
    len: usize,
    /// Values recorded with [`Samples::push_censored`].
    censored: u64,
}

/// Mean and percentiles of durations, in hours; `null` when there are no values.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Values summarized.
    pub count: u64,
    /// Of those, values cut off by the horizon (a job still waiting, or not yet done, counts
    /// with its time so far): where this is not 0, every figure is a lower bound.
    pub censored: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Samples {
    /// Values per chunk (512 KiB).
    const CHUNK: usize = 1 << 16;

    pub fn push(&mut self, x: Time) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < Self::CHUNK => c.push(x),
            _ => {
                let mut c = Vec::with_capacity(Self::CHUNK);
                c.push(x);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    /// Records a value cut off by the horizon: the time so far of something not yet over.
    pub fn push_censored(&mut self, x: Time) {
        self.push(x);
        self.censored += 1;
    }

    /// Values recorded with [`Samples::push_censored`].
    pub fn censored(&self) -> u64 {
        self.censored
    }

    /// Mean, median and 99th percentile of the values of all `groups` together, in hours
    /// (`None` when there are none), with how many values there are and how many censored. The mean is of the exact integer sum; a percentile
    /// interpolates linearly between the two order statistics around its rank, as on a
    /// sorted list, but they are found by selection: a month of a gigawatt fleet records tens
    /// of millions of values, and sorting them took seconds.
    pub fn summary(groups: &[&Samples]) -> Percentiles {
        let n: usize = groups.iter().map(|s| s.len).sum();
        let censored = groups.iter().map(|s| s.censored).sum();
        if n == 0 {
            return Percentiles::default();
        }
        let mut v = Vec::with_capacity(n);
        for c in groups.iter().flat_map(|s| &s.chunks) {
            v.extend_from_slice(c);
        }
        let sum: u128 = v.iter().map(|&x| x as u128).sum();
        let mean = sum as f64 / crate::units::US_PER_HOUR as f64 / n as f64;
        // The higher rank first, so the median's selection works on what lies below it.
        let p99 = percentile_of(&mut v, 0.99);
        let p50 = percentile_of(&mut v, 0.5);
        Percentiles {
            count: n as u64,
            censored,
            mean: Some(mean),
            p50: Some(p50),
            p99: Some(p99),
        }
    }
}

/// The `q`-quantile of `v` in hours, interpolated between the order statistics at the floor
/// and the ceiling of rank `q (n - 1)`. Leaves `v` partitioned around the lower one, so a
/// smaller quantile asked next selects among the same values, reordered.
fn percentile_of(v: &mut [Time], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (_, &mut a, above) = v.select_nth_unstable(lo);
    let b = if hi > lo {
        *above.iter().min().expect("hi < len")
    } else {
        a
    };
    let (a, b) = (crate::units::hours(a), crate::units::hours(b));
    a + (b - a) * (pos - lo as f64)
}

/// Linear-interpolation percentile (numpy's default) of a sorted sample (0 when it is empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[derive(Clone, Debug)]
pub struct Ledger {
    pub last: Time,
    /// GPU-µs per GPU type per state, integrated from the state counts.
    pub state_us: Vec<[u128; N_STATES]>,
    /// Indexed `[tenant][type]`.
    pub accounts: Vec<Vec<Account>>,
    /// Indexed by `Kind as usize`.
    pub kinds: [KindAccount; 3],
    pub tenant_switches: u64,
    pub workflow_switches: u64,
    pub tokens_lost: f64,
    /// Busy GPU-µs of compute-bound work (training), per type: the rest of busy time is
    /// decode-bound, which draws less power.
    pub busy_compute_us: Vec<u128>,
    pub energy: Energy,
    /// Contract meters, per tenant.
    pub meters: Vec<Meter>,
}

impl Ledger {
    pub fn new(sc: &crate::config::Scenario) -> Self {
        let types = sc.gpu_types.len();
        let power = sc.gpu_types.iter().map(|g| g.power).collect();
        Ledger {
            last: 0,
            state_us: vec![[0; N_STATES]; types],
            accounts: vec![vec![Account::default(); types]; sc.tenants.len()],
            kinds: Default::default(),
            tenant_switches: 0,
            workflow_switches: 0,
            tokens_lost: 0.0,
            busy_compute_us: vec![0; types],
            energy: Energy::new(power, sc.horizon),
            meters: (sc.tenants.iter())
                .map(|t| Meter::new(&t.reserved, t.reserved_any))
                .collect(),
        }
    }

    /// Books the energy of `gpus` GPUs of type `t` in `state` from `from` to `to` (work of
    /// `kind` where busy). Host power is booked by [`Ledger::advance`].
    #[inline]
    pub fn book_energy(
        &mut self,
        t: usize,
        state: GpuState,
        kind: Kind,
        gpus: u64,
        from: Time,
        to: Time,
    ) {
        let w = self.energy.board_w(t, state, kind == Kind::Training);
        self.energy.book(t, w * gpus as f64, from, to);
    }

    /// Integrates GPU states from `self.last` to `now`.
    pub fn advance(&mut self, now: Time, cluster: &Cluster) {
        debug_assert!(now >= self.last, "time went backwards");
        let dt = (now - self.last) as u128;
        if dt > 0 {
            for (t, (acc, counts)) in self
                .state_us
                .iter_mut()
                .zip(&cluster.state_count)
                .enumerate()
            {
                for s in 0..N_STATES {
                    acc[s] += counts[s] as u128 * dt;
                }
                // Idle boards and every host not down, at the counts since the last event.
                let up: u64 = counts.iter().sum::<u64>() - counts[GpuState::Down as usize];
                let idle = counts[GpuState::Idle as usize] as f64;
                let w = idle * self.energy.board_w(t, GpuState::Idle, false)
                    + up as f64 * self.energy.host_w(t);
                self.energy.book_steady(t, w, self.last, now);
            }
        }
        self.last = now;
    }

    /// Books `gpu_us` GPU-microseconds in `state` to a tenant, type and kind.
    pub fn book_time(
        &mut self,
        tenant: usize,
        t: usize,
        kind: Kind,
        state: GpuState,
        gpu_us: u128,
    ) {
        let a = &mut self.accounts[tenant][t];
        let k = &mut self.kinds[kind as usize];
        match state {
            GpuState::Busy => {
                a.productive_us += gpu_us;
                k.productive_us += gpu_us;
                if kind == Kind::Training {
                    self.busy_compute_us[t] += gpu_us;
                }
            }
            GpuState::TenantSwitch => {
                a.tenant_switch_us += gpu_us;
                k.switch_us += gpu_us;
            }
            GpuState::WorkflowSwitch => {
                a.workflow_switch_us += gpu_us;
                k.switch_us += gpu_us;
            }
            GpuState::Idle | GpuState::Down => {}
        }
    }

    /// Moves `gpu_us` GPU-microseconds of type `t` from state `from` to `to` in the state
    /// integrals: time integrated in one state that, it turned out, was spent in the other.
    /// (Neither is idle or down, whose energy [`Ledger::advance`] books from the counts.)
    pub fn move_state_time(&mut self, t: usize, from: GpuState, to: GpuState, gpu_us: u128) {
        self.state_us[t][from as usize] -= gpu_us;
        self.state_us[t][to as usize] += gpu_us;
    }

    /// Books output tokens of a workload whose throughput on the work reference type is
    /// `work_rate` tokens/s per GPU.
    #[inline]
    pub fn book_tokens(
        &mut self,
        tenant: usize,
        t: usize,
        kind: Kind,
        tokens: f64,
        work_rate: f64,
    ) {
        let work_h = tokens / work_rate / 3600.0;
        let a = &mut self.accounts[tenant][t];
        a.tokens += tokens;
        a.work_h += work_h;
        let k = &mut self.kinds[kind as usize];
        k.tokens += tokens;
        k.work_h += work_h;
    }

    /// Tokens booked so far, all tenants and types.
    pub fn total_tokens(&self) -> f64 {
        self.accounts.iter().flatten().map(|a| a.tokens).sum()
    }

    /// Fleet-wide GPU-µs in a state.
    pub fn total_in(&self, s: GpuState) -> u128 {
        self.state_us.iter().map(|a| a[s as usize]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The summary by selection gives the percentiles of the sorted values, exactly, and
        /// their mean, over values split among groups and across chunks.
        #[test]
        fn summary_matches_the_sorted_values(
            groups in prop::collection::vec(prop::collection::vec(0u64..1 << 40, 0..300), 1..4),
            big in 0usize..2,
        ) {
            let mut samples: Vec<Samples> = groups.iter().map(|g| {
                let mut s = Samples::default();
                g.iter().for_each(|&x| s.push(x));
                s
            }).collect();
            // Spill one group over a chunk boundary.
            for i in 0..big * (Samples::CHUNK + 1) {
                samples[0].push(i as u64 % 7_200_000_000);
            }
            let refs: Vec<&Samples> = samples.iter().collect();
            let got = Samples::summary(&refs);
            let mut all: Vec<f64> = samples.iter()
                .flat_map(|s| s.chunks.iter().flatten())
                .map(|&x| crate::units::hours(x))
                .collect();
            all.sort_by(f64::total_cmp);
            prop_assert_eq!(got.count, all.len() as u64);
            if all.is_empty() {
                prop_assert_eq!(got, Percentiles::default());
                return Ok(());
            }
            prop_assert_eq!(got.p50, Some(percentile(&all, 0.5)));
            prop_assert_eq!(got.p99, Some(percentile(&all, 0.99)));
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            prop_assert!((got.mean.unwrap() - mean).abs() <= 1e-9 * mean.max(1.0));
        }
    }
}
