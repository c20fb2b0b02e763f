//! A service's demand queue as a FIFO fluid: work arrives at a rate that is constant between
//! events, is served at the capacity of the ready replicas, waits in order when capacity falls
//! short, and is dropped once older than the service's `abandon_after`. Each token's delay
//! runs from its arrival to its service; the queue hands the served, dropped and delayed
//! tokens to the service's books.
//!
//! Times inside are seconds as `f64`: a queue drains, or its oldest work reaches the
//! abandonment age, between the integer-microsecond instants of events.

use std::collections::VecDeque;

use crate::metrics::delay::Delays;

/// Queued work that arrived uniformly over `[from, to)` s at `rate` work/s, each unit of work
/// standing for `out` output and `prompt` prompt tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Chunk {
    from: f64,
    to: f64,
    rate: f64,
    out: f64,
    prompt: f64,
}

impl Chunk {
    fn work(&self) -> f64 {
        self.rate * (self.to - self.from)
    }
}

/// What one call to [`Fluid::advance`] did, in work per state, and its output and prompt
/// tokens (the delays go straight to the [`Delays`] it is given).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flow {
    pub served_work: f64,
    pub served_out: f64,
    pub served_prompt: f64,
    pub dropped_out: f64,
    pub dropped_prompt: f64,
}

impl Flow {
    fn serve(&mut self, c: &Chunk, work: f64) {
        self.served_work += work;
        self.served_out += work * c.out;
        self.served_prompt += work * c.prompt;
    }

    fn drop(&mut self, c: &Chunk, work: f64) {
        self.dropped_out += work * c.out;
        self.dropped_prompt += work * c.prompt;
    }
}

/// A pause shorter than this (s) is no pause: it ends pieces that rounding would leave.
const EPS_S: f64 = 1e-9;

#[derive(Clone, Debug, Default)]
pub struct Fluid {
    chunks: VecDeque<Chunk>,
    /// Age at which queued work is dropped, s (`None`: never).
    abandon_after: Option<f64>,
}

impl Fluid {
    pub fn new(abandon_after: Option<f64>) -> Self {
        Fluid {
            chunks: VecDeque::new(),
            abandon_after,
        }
    }

    /// Work waiting now.
    pub fn queued_work(&self) -> f64 {
        self.chunks.iter().map(Chunk::work).sum()
    }

    /// Output and prompt tokens waiting now.
    pub fn queued_tokens(&self) -> (f64, f64) {
        (self.chunks.iter()).fold((0.0, 0.0), |(o, p), c| {
            (o + c.work() * c.out, p + c.work() * c.prompt)
        })
    }

    /// Runs the queue from `t0` to `t1` (s) with work arriving at `demand` work/s (each unit
    /// `out` output and `prompt` prompt tokens) and served at up to `capacity` work/s, oldest
    /// first. Output tokens served go to `delays` with their delays.
    pub fn advance(
        &mut self,
        (t0, t1): (f64, f64),
        demand: f64,
        (out, prompt): (f64, f64),
        capacity: f64,
        delays: &mut Delays,
    ) -> Flow {
        let mut flow = Flow::default();
        if t1 <= t0 {
            return flow;
        }
        let arriving = Chunk {
            from: t0,
            to: t1,
            rate: demand,
            out,
            prompt,
        };
        if self.chunks.is_empty() && demand <= capacity {
            // Nothing waits and capacity keeps up: served as it arrives.
            let work = demand * (t1 - t0);
            flow.serve(&arriving, work);
            delays.add_at_once(work * out);
            return flow;
        }
        if demand > 0.0 {
            match self.chunks.back_mut() {
                Some(b) if b.to == t0 && b.rate == demand && b.out == out && b.prompt == prompt => {
                    b.to = t1;
                }
                _ => self.chunks.push_back(arriving),
            }
        }
        // Rounding of times far from 0 is larger than any fixed tolerance.
        let tol = EPS_S.max(t1.abs() * 1e-12);
        let mut s = t0;
        // Every pass pops a chunk, reaches `t1`, starts tracking the abandonment age, or moves
        // on by more than `tol`.
        while s < t1 - tol {
            let Some(&c) = self.chunks.front() else {
                break; // drained with nothing arriving
            };
            // The chunk still arriving is the last one, and only its part before `s` is in.
            let arrived_to = if self.chunks.len() == 1 && demand > 0.0 {
                c.to.min(s)
            } else {
                c.to
            };
            let mut c = c;
            // Work older than the abandonment age is dropped.
            if let Some(a) = self.abandon_after
                && c.from < s - a
            {
                let cut = (s - a).min(c.to);
                flow.drop(&c, c.rate * (cut - c.from));
                c.from = cut;
            }
            if c.to - c.from <= tol {
                flow.serve(&c, c.rate * (c.to - c.from).max(0.0));
                delays.add_at_once(c.rate * (c.to - c.from).max(0.0) * c.out);
                self.chunks.pop_front();
                continue;
            }
            let arriving_now = arrived_to < c.to;
            let catch_up = |c: &Chunk, flow: &mut Flow, delays: &mut Delays| {
                // Caught up with arrivals: the queue is empty and capacity keeps up (a queue
                // with demand above capacity never catches up); served as it arrives, with
                // what rounding left in front.
                let work = c.rate * (t1 - c.from);
                flow.serve(c, work);
                delays.add_at_once(work * c.out);
            };
            if c.from >= arrived_to - tol && arriving_now && capacity >= c.rate {
                catch_up(&c, &mut flow, delays);
                self.chunks.pop_front();
                break;
            }
            if capacity <= 0.0 {
                // Nothing served: only abandonment moves the queue, dropping all that is
                // older than the abandonment age by the end.
                self.chunks[0] = c;
                if let Some(a) = self.abandon_after {
                    let cut = t1 - a;
                    while let Some(f) = self.chunks.front_mut() {
                        if f.from >= cut {
                            break;
                        }
                        let to = f.to.min(cut);
                        let gone = *f;
                        flow.drop(&gone, gone.rate * (to - gone.from));
                        if to >= gone.to {
                            self.chunks.pop_front();
                        } else {
                            f.from = to;
                            break;
                        }
                    }
                }
                break;
            }
            // The front moves through arrival time at `v` s per s.
            let v = capacity / c.rate;
            let mut end = t1.min(s + (c.to - c.from) / v);
            if arriving_now && v > 1.0 {
                // It catches up with arrivals when `from + v (t - s) = t`.
                end = end.min((v * s - c.from) / (v - 1.0));
            }
            let mut tracking = false;
            if let Some(a) = self.abandon_after
                && v < 1.0
            {
                // The front's age grows at 1 - v; at `a` it tracks the abandonment age.
                let age = s - c.from;
                let reach = s + (a - age).max(0.0) / (1.0 - v);
                if reach <= s + tol {
                    tracking = true;
                    end = t1.min(s + (c.to - c.from));
                } else {
                    end = end.min(reach);
                }
            }
            if !tracking && end - s <= tol {
                // Too close to tell apart from now: caught up, or the front chunk is done.
                if arriving_now && v >= 1.0 {
                    catch_up(&c, &mut flow, delays);
                    self.chunks.pop_front();
                    break;
                }
                let work = c.rate * (c.to - c.from);
                flow.serve(&c, work);
                delays.add(work * c.out, s - c.from, s - c.to);
                self.chunks.pop_front();
                continue;
            }
            let dt = end - s;
            if tracking {
                // Served at capacity with delay `a`, the rest of the front dropped as it ages.
                let a = self.abandon_after.expect("tracking");
                let moved = dt; // arrival time passed, s
                let work = c.rate * moved;
                let served = (capacity * dt).min(work);
                flow.serve(&c, served);
                flow.drop(&c, work - served);
                delays.add(served * c.out, a, a);
                c.from += moved;
            } else {
                let served = (capacity * dt).min(c.rate * (c.to - c.from));
                let moved = served / c.rate;
                flow.serve(&c, served);
                delays.add(served * c.out, s - c.from, end - (c.from + moved));
                c.from += moved;
            }
            s = end;
            if c.to - c.from <= tol {
                let rest = c.rate * (c.to - c.from).max(0.0);
                flow.serve(&c, rest);
                delays.add(rest * c.out, s - c.from, s - c.to);
                self.chunks.pop_front();
            } else {
                self.chunks[0] = c;
            }
        }
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f64 = 3600.0;

    fn run(f: &mut Fluid, steps: &[(f64, f64, f64, f64)], d: &mut Delays) -> Flow {
        let mut total = Flow::default();
        for &(t0, t1, demand, cap) in steps {
            let x = f.advance((t0, t1), demand, (1.0, 0.0), cap, d);
            total.served_work += x.served_work;
            total.served_out += x.served_out;
            total.dropped_out += x.dropped_out;
        }
        total
    }

    /// Demand 0.5 C, then 2 C for an hour, then 0.5 C: the queue peaks at one hour of
    /// capacity, the burst's last token waits an hour, and the queue is empty two hours later.
    #[test]
    fn a_demand_step_queues_and_drains_as_worked_out_by_hand() {
        let c = 100.0;
        let mut f = Fluid::new(None);
        let mut d = Delays::new(1e9);
        run(
            &mut f,
            &[(0.0, H, 0.5 * c, c), (H, 2.0 * H, 2.0 * c, c)],
            &mut d,
        );
        assert!(
            (f.queued_work() - c * H).abs() < 1e-6,
            "{}",
            f.queued_work()
        );
        run(&mut f, &[(2.0 * H, 3.0 * H, 0.5 * c, c)], &mut d);
        assert!((f.queued_work() - 0.5 * c * H).abs() < 1e-6);
        run(&mut f, &[(3.0 * H, 4.0 * H - 1.0, 0.5 * c, c)], &mut d);
        assert!(f.queued_work() > 0.0);
        let total = run(&mut f, &[(4.0 * H - 1.0, 5.0 * H, 0.5 * c, c)], &mut d);
        assert_eq!(f.queued_work(), 0.0);
        assert!(total.served_work > 0.0);
        assert!((d.max_s - H).abs() < 1e-6, "max {}", d.max_s);
        // Served everything that arrived: 0.5 C for 4 h and 2 C for 1 h.
        assert!((d.tokens - c * H * 4.0).abs() < 1e-6);
    }

    #[test]
    fn a_cold_start_delays_the_first_demand_by_the_load() {
        // No capacity for 60 s, then twice the demand: the queue of 60 s drains in 60 s.
        let mut f = Fluid::new(None);
        let mut d = Delays::new(30.0);
        run(
            &mut f,
            &[(0.0, 60.0, 10.0, 0.0), (60.0, 600.0, 10.0, 20.0)],
            &mut d,
        );
        assert_eq!(f.queued_work(), 0.0);
        assert!((d.max_s - 60.0).abs() < 1e-9);
        assert!((d.tokens - 6000.0).abs() < 1e-6);
        // The 1,200 tokens served by 120 s waited from 60 s (the first) down to none (the
        // one arriving at 120 s): half of them over 30 s.
        assert!((d.within - 5400.0).abs() < 1e-6, "{}", d.within);
        assert!((d.mean_s() * d.tokens - 1200.0 * 30.0).abs() < 1e-6);
    }

    #[test]
    fn abandonment_drops_what_waits_too_long_and_conserves_work() {
        let mut f = Fluid::new(Some(100.0));
        let mut d = Delays::new(1e9);
        let x = run(&mut f, &[(0.0, 1000.0, 10.0, 4.0)], &mut d);
        let queued = f.queued_work();
        assert!((x.served_work + x.dropped_out + queued - 10_000.0).abs() < 1e-6);
        // Served work never waited more than the abandonment age.
        assert!(d.max_s <= 100.0 + 1e-6, "{}", d.max_s);
        // In steady state the queue holds 100 s of arrivals.
        assert!((queued - 1000.0).abs() < 1e-6, "{queued}");
        // With no capacity at all, everything older than 100 s goes.
        let mut f = Fluid::new(Some(100.0));
        let x = run(&mut f, &[(0.0, 1000.0, 10.0, 0.0)], &mut d);
        assert!((x.dropped_out - 9000.0).abs() < 1e-6);
        assert!((f.queued_work() - 1000.0).abs() < 1e-6);
    }

    proptest::proptest! {
        /// Whatever the demand, capacity and abandonment: served, dropped and still queued
        /// work add up to what arrived; no served token waited longer than the abandonment
        /// age or less than none.
        #[test]
        fn work_is_conserved_and_delays_bounded(
            steps in proptest::collection::vec((1u32..5000, 0u32..50, 0u32..50), 1..40),
            abandon in proptest::option::of(1u32..3000),
            start in proptest::sample::select(vec![0.0, 868_200.0, 3.0e8]),
            frac in 0.0f64..1.0,
        ) {
            let mut f = Fluid::new(abandon.map(|a| a as f64));
            let mut d = Delays::new(60.0);
            let (mut t, mut arrived, mut served, mut dropped) = (start, 0.0, 0.0, 0.0);
            for (dt, demand, cap) in steps {
                // Rates with fractions, as demand shapes give them.
                let (dt, demand, cap) = (dt as f64, demand as f64 * (1.0 + frac / 7.0), cap as f64);
                let x = f.advance((t, t + dt), demand, (2.0, 0.5), cap, &mut d);
                t += dt;
                arrived += demand * dt;
                served += x.served_work;
                dropped += x.dropped_out / 2.0;
                proptest::prop_assert!((x.dropped_prompt * 4.0 - x.dropped_out).abs() < 1e-6);
                proptest::prop_assert!(x.served_work <= cap * dt * (1.0 + 1e-9) + 1e-9);
            }
            let left = f.queued_work();
            proptest::prop_assert!(
                (served + dropped + left - arrived).abs() <= 1e-9 * arrived.max(1.0),
                "served {served} dropped {dropped} queued {left} arrived {arrived}"
            );
            proptest::prop_assert!((d.tokens - 2.0 * served).abs() <= 1e-9 * served.max(1.0));
            if let Some(a) = abandon {
                proptest::prop_assert!(d.max_s <= a as f64 * (1.0 + 1e-9));
            }
            proptest::prop_assert!(d.within <= d.tokens * (1.0 + 1e-12));
        }
    }
}
