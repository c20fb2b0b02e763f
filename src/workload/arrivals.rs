//! Lazy arrival streams: each workload draws its next job only when the previous one arrives,
//! from its own seeded random stream, so arrivals are identical whatever the policy does.

use rand::RngExt;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_distr::LogNormal;

use super::{ExplicitJob, JobSize, Spec, Workload};
use crate::units::{Time, from_secs_f64};

/// Random stream numbers: one per purpose, so that adding failures does not shift arrivals.
pub const STREAM_FAILURES: u64 = 1;
pub const STREAM_POLICY: u64 = 2;
pub const STREAM_ARRIVALS_BASE: u64 = 1_000;

/// A seeded generator for one purpose.
pub fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// One job arrival: when, how many GPUs (for batch: ignored, the replica shape is used) and
/// how many tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct JobArrival {
    pub at: Time,
    pub gpus: u32,
    pub tokens: f64,
}

/// The arrivals of one training or batch workload: explicit jobs merged with a Poisson stream.
pub struct ArrivalStream {
    rng: ChaCha8Rng,
    /// Mean inter-arrival in seconds; `None` for no random arrivals.
    mean_gap_s: Option<f64>,
    sizes: Vec<JobSize>,
    size_pick: Option<WeightedIndex<f64>>,
    spread: Option<LogNormal<f64>>,
    exponential: bool,
    explicit: Vec<ExplicitJob>,
    next_explicit: usize,
    next_random: Option<JobArrival>,
    horizon: Time,
}

impl ArrivalStream {
    pub fn new(w: &Workload, index: usize, seed: u64, horizon: Time) -> Self {
        let rng = rng_for(seed, STREAM_ARRIVALS_BASE + index as u64);
        let exponential = matches!(&w.spec, Spec::Training(t) if t.exponential_tokens);
        let (rate, sizes, cv, mut explicit) = match &w.spec {
            Spec::Training(t) => (
                t.arrivals_per_hour,
                t.sizes.clone(),
                t.tokens_cv,
                t.jobs.clone(),
            ),
            // A batch backlog is held by the engine as a count (see `Engine::refill`).
            Spec::Batch(b) => {
                let size = JobSize {
                    gpus: 0,
                    weight: 1.0,
                    tokens: b.job_tokens,
                };
                (b.arrivals_per_hour, vec![size], b.tokens_cv, vec![])
            }
            Spec::Inference(_) => (0.0, vec![], 0.0, vec![]),
        };
        explicit.sort_by_key(|j| j.at);
        let size_pick = if sizes.is_empty() {
            None
        } else {
            WeightedIndex::new(sizes.iter().map(|s| s.weight)).ok()
        };
        // Lognormal with mean 1 and the given coefficient of variation.
        let spread = (cv > 0.0).then(|| {
            let sigma2 = (1.0 + cv * cv).ln();
            LogNormal::new(-sigma2 / 2.0, sigma2.sqrt()).expect("validated cv")
        });
        let mut s = ArrivalStream {
            rng,
            mean_gap_s: (rate > 0.0 && size_pick.is_some()).then(|| 3_600.0 / rate),
            sizes,
            size_pick,
            spread,
            exponential,
            explicit,
            next_explicit: 0,
            next_random: None,
            horizon,
        };
        s.next_random = s.draw_after(0);
        s
    }

    fn draw_after(&mut self, t: Time) -> Option<JobArrival> {
        let gap = self.mean_gap_s?;
        let u: f64 = self.rng.random();
        let at = t.saturating_add(from_secs_f64(-gap * (1.0 - u).ln()));
        let size = &self.sizes[self.size_pick.as_ref()?.sample(&mut self.rng)];
        let scale = if self.exponential {
            let u: f64 = self.rng.random();
            -(1.0 - u).ln()
        } else {
            self.spread.map_or(1.0, |d| d.sample(&mut self.rng))
        };
        (at < self.horizon).then_some(JobArrival {
            at,
            gpus: size.gpus,
            tokens: size.tokens * scale,
        })
    }

    /// Time of the next arrival, if any before the horizon.
    pub fn peek_time(&self) -> Option<Time> {
        let e = self
            .explicit
            .get(self.next_explicit)
            .map(|j| j.at)
            .filter(|&t| t < self.horizon);
        let r = self.next_random.as_ref().map(|j| j.at);
        match (e, r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the next arrival (explicit jobs first on ties).
    pub fn pop(&mut self) -> Option<JobArrival> {
        let t = self.peek_time()?;
        if let Some(j) = self.explicit.get(self.next_explicit).filter(|j| j.at == t) {
            let a = JobArrival {
                at: j.at,
                gpus: j.gpus,
                tokens: j.tokens,
            };
            self.next_explicit += 1;
            return Some(a);
        }
        let a = self.next_random.take()?;
        self.next_random = self.draw_after(a.at);
        Some(a)
    }
}
