//! Replayed inference demand: a trace turned into cumulative output and prompt tokens over
//! simulated time, so the demand of any interval is one subtraction. Request traces are step
//! functions (a request's tokens arrive at its timestamp); rate series (ServeGen) are
//! piecewise linear. A replay can start late, be looped, and be sped up.

use crate::units::Time;

/// Cumulative tokens of one replayed trace.
#[derive(Clone, Debug)]
pub struct Replay {
    /// Breakpoints within one period, µs after the replay starts, ascending.
    t: Vec<Time>,
    /// Output tokens arrived before each breakpoint (steps) or at it (linear).
    out: Vec<f64>,
    /// Prompt tokens likewise.
    inp: Vec<f64>,
    linear: bool,
    /// Length of one pass over the trace.
    period: Time,
    looping: bool,
    /// Simulated time of the trace's first instant.
    start: Time,
}

/// One request as the replay sees it: trace time (µs, after windowing and speed-up) and tokens.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub at: Time,
    pub output_tokens: f64,
    pub input_tokens: f64,
}

impl Replay {
    /// A request trace: each request's tokens arrive at its time. `arrivals` must be sorted
    /// by time and lie in `[0, period)`.
    pub fn requests(arrivals: &[Arrival], period: Time, looping: bool, start: Time) -> Self {
        let mut t = Vec::with_capacity(arrivals.len());
        let (mut out, mut inp) = (vec![0.0], vec![0.0]);
        for a in arrivals {
            debug_assert!(a.at < period.max(1));
            t.push(a.at);
            out.push(out.last().unwrap() + a.output_tokens);
            inp.push(inp.last().unwrap() + a.input_tokens);
        }
        Replay {
            t,
            out,
            inp,
            linear: false,
            period,
            looping,
            start,
        }
    }

    /// A rate series: `(window start, window length, output tokens, prompt tokens)` spread
    /// evenly over each window; windows sorted and not overlapping; gaps carry no demand.
    pub fn rates(
        windows: &[(Time, Time, f64, f64)],
        period: Time,
        looping: bool,
        start: Time,
    ) -> Self {
        let (mut t, mut out, mut inp) = (vec![0], vec![0.0], vec![0.0]);
        for &(at, len, o, i) in windows {
            if at > *t.last().unwrap() {
                t.push(at);
                out.push(*out.last().unwrap());
                inp.push(*inp.last().unwrap());
            }
            t.push(at + len);
            out.push(out.last().unwrap() + o);
            inp.push(inp.last().unwrap() + i);
        }
        Replay {
            t,
            out,
            inp,
            linear: true,
            period,
            looping,
            start,
        }
    }

    /// Output and prompt tokens of one whole pass.
    pub fn pass_tokens(&self) -> (f64, f64) {
        (*self.out.last().unwrap(), *self.inp.last().unwrap())
    }

    pub fn period(&self) -> Time {
        self.period
    }

    /// Tokens arrived in `[0, r)` of one pass.
    fn within(&self, r: Time) -> (f64, f64) {
        if self.linear {
            let i = self.t.partition_point(|&x| x <= r);
            if i >= self.t.len() {
                return self.pass_tokens();
            }
            // i >= 1 because t[0] = 0 <= r.
            let (t0, t1) = (self.t[i - 1], self.t[i]);
            let f = (r - t0) as f64 / (t1 - t0) as f64;
            let lerp = |v: &[f64]| v[i - 1] + (v[i] - v[i - 1]) * f;
            (lerp(&self.out), lerp(&self.inp))
        } else {
            let i = self.t.partition_point(|&x| x < r);
            (self.out[i], self.inp[i])
        }
    }

    /// Output and prompt tokens arrived before simulated time `t`.
    pub fn cumulative(&self, t: Time) -> (f64, f64) {
        let rel = t.saturating_sub(self.start);
        if !self.looping || self.period == 0 {
            return self.within(rel);
        }
        let passes = (rel / self.period) as f64;
        let (o, i) = self.within(rel % self.period);
        let (po, pi) = self.pass_tokens();
        (passes * po + o, passes * pi + i)
    }

    /// Output and prompt tokens arriving in `[a, b)`.
    pub fn between(&self, a: Time, b: Time) -> (f64, f64) {
        let (oa, ia) = self.cumulative(a);
        let (ob, ib) = self.cumulative(b);
        ((ob - oa).max(0.0), (ib - ia).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(at: Time, o: f64, i: f64) -> Arrival {
        Arrival {
            at,
            output_tokens: o,
            input_tokens: i,
        }
    }

    #[test]
    fn steps_count_requests_at_their_time() {
        let r = Replay::requests(
            &[arr(0, 1.0, 10.0), arr(5, 2.0, 20.0), arr(5, 4.0, 0.0)],
            10,
            false,
            100,
        );
        assert_eq!(r.between(0, 100), (0.0, 0.0));
        assert_eq!(r.between(100, 105), (1.0, 10.0));
        assert_eq!(r.between(105, 106), (6.0, 20.0));
        assert_eq!(r.between(0, 1_000), (7.0, 30.0));
        let l = Replay::requests(&[arr(0, 1.0, 10.0), arr(5, 2.0, 20.0)], 10, true, 0);
        assert_eq!(l.between(0, 30), (9.0, 90.0));
        assert_eq!(l.between(12, 16), (2.0, 20.0));
    }

    #[test]
    fn rates_spread_evenly_over_windows() {
        // 60 tokens over [0, 10), a gap, 10 over [20, 30).
        let r = Replay::rates(&[(0, 10, 60.0, 0.0), (20, 10, 10.0, 5.0)], 30, true, 0);
        assert_eq!(r.between(0, 5), (30.0, 0.0));
        assert_eq!(r.between(10, 20), (0.0, 0.0));
        assert_eq!(r.between(25, 30), (5.0, 2.5));
        assert_eq!(r.between(0, 60), (140.0, 10.0));
    }
}
