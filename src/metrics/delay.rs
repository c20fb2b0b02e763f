//! Queueing delays of served tokens: their mean, maximum, share within a bound and a
//! histogram for percentiles, fed by pieces over which the delay varies linearly (a fluid
//! FIFO queue serves each piece's tokens in order at a steady rate).

/// Histogram bins per decade of delay (bin edges 10^(1/20) apart, about 12 %).
const PER_DECADE: usize = 20;
/// The smallest delay the histogram resolves, s: below it a delay counts as none.
const FLOOR_S: f64 = 1e-3;
/// Decades above the floor (1 ms to 10^7 s, about 116 days); longer delays fall in the last bin.
const DECADES: usize = 10;
const BINS: usize = PER_DECADE * DECADES;

/// Delay statistics over tokens, each weighted by its count.
#[derive(Clone, Debug)]
pub struct Delays {
    /// Delay bound that counts as on time, s.
    bound_s: f64,
    /// Tokens served, and those served within the bound.
    pub tokens: f64,
    pub within: f64,
    /// Sum of token × delay, token-s.
    sum: f64,
    pub max_s: f64,
    /// Tokens with no delay worth resolving (below [`FLOOR_S`]).
    zero: f64,
    bins: Vec<f64>,
}

impl Delays {
    pub fn new(bound_s: f64) -> Self {
        Delays {
            bound_s,
            tokens: 0.0,
            within: 0.0,
            sum: 0.0,
            max_s: 0.0,
            zero: 0.0,
            bins: vec![0.0; BINS],
        }
    }

    /// `tokens` served with no delay.
    pub fn add_at_once(&mut self, tokens: f64) {
        if tokens > 0.0 {
            self.tokens += tokens;
            self.within += tokens;
            self.zero += tokens;
        }
    }

    /// `tokens` served in order with delays varying linearly from `d0` to `d1` (s), uniformly
    /// spread over that range.
    pub fn add(&mut self, tokens: f64, d0: f64, d1: f64) {
        if tokens <= 0.0 {
            return;
        }
        let (lo, hi) = (d0.min(d1).max(0.0), d0.max(d1).max(0.0));
        self.tokens += tokens;
        self.sum += tokens * (lo + hi) / 2.0;
        self.max_s = self.max_s.max(hi);
        self.within += tokens * share_at_most(lo, hi, self.bound_s);
        if hi < FLOOR_S {
            self.zero += tokens;
            return;
        }
        if hi - lo <= hi * 1e-12 {
            self.bins[bin_of(hi)] += tokens;
            return;
        }
        // Below the floor.
        self.zero += tokens * share_at_most(lo, hi, FLOOR_S);
        let (b0, b1) = (bin_of(lo.max(FLOOR_S)), bin_of(hi));
        for b in b0..=b1 {
            let (e0, e1) = (
                edge(b).max(lo),
                if b + 1 == BINS {
                    hi
                } else {
                    edge(b + 1).min(hi)
                },
            );
            if e1 > e0 {
                self.bins[b] += tokens * (e1 - e0) / (hi - lo);
            }
        }
    }

    /// Mean delay of the tokens served, s (0 if none).
    pub fn mean_s(&self) -> f64 {
        if self.tokens > 0.0 {
            self.sum / self.tokens
        } else {
            0.0
        }
    }

    /// The delay below which a share `q` of the tokens was served, s: interpolated within a
    /// histogram bin (log-linearly), so within about 6 % of the exact figure, and never above
    /// the largest delay.
    pub fn quantile_s(&self, q: f64) -> f64 {
        let target = q.clamp(0.0, 1.0) * self.tokens;
        if self.tokens <= 0.0 || target <= self.zero {
            return 0.0;
        }
        let mut acc = self.zero;
        for (b, &w) in self.bins.iter().enumerate() {
            if w > 0.0 && acc + w >= target {
                let f = (target - acc) / w;
                let (e0, e1) = (edge(b), edge(b + 1));
                return (e0 * (e1 / e0).powf(f)).min(self.max_s);
            }
            acc += w;
        }
        self.max_s
    }
}

/// The share of a uniform spread over `[lo, hi]` at or below `x`.
fn share_at_most(lo: f64, hi: f64, x: f64) -> f64 {
    if hi <= x {
        1.0
    } else if lo > x {
        0.0
    } else if hi > lo {
        (x - lo) / (hi - lo)
    } else {
        1.0
    }
}

/// Lower edge of bin `b`, s.
fn edge(b: usize) -> f64 {
    FLOOR_S * 10f64.powf(b as f64 / PER_DECADE as f64)
}

/// The bin of a delay at or above the floor.
fn bin_of(d: f64) -> usize {
    let b = ((d / FLOOR_S).log10() * PER_DECADE as f64).floor();
    (b.max(0.0) as usize).min(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_piece_gives_its_exact_mean_max_and_share_within() {
        let mut d = Delays::new(1800.0);
        // 100 tokens whose delays run from 0 to 3600 s.
        d.add(100.0, 0.0, 3600.0);
        assert!((d.mean_s() - 1800.0).abs() < 1e-9);
        assert_eq!(d.max_s, 3600.0);
        assert!((d.within - 50.0).abs() < 1e-9);
        // The median of a uniform spread over [0, 3600] is 1800, within a bin's width.
        let p50 = d.quantile_s(0.5);
        assert!((p50 / 1800.0 - 1.0).abs() < 0.07, "p50 {p50}");
        let p99 = d.quantile_s(0.99);
        assert!((p99 / 3564.0 - 1.0).abs() < 0.07, "p99 {p99}");
        assert!(d.quantile_s(1.0) <= 3600.0);
    }

    #[test]
    fn tokens_served_at_once_have_no_delay() {
        let mut d = Delays::new(1.0);
        d.add_at_once(99.0);
        d.add(1.0, 10.0, 10.0);
        assert_eq!(d.quantile_s(0.5), 0.0);
        assert!(d.quantile_s(0.999) > 9.0);
        assert!((d.within - 99.0).abs() < 1e-12);
        assert!((d.mean_s() - 0.1).abs() < 1e-12);
    }
}
