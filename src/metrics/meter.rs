//! A tenant's contract meter: the GPUs it holds (billable: allocated to it outside a tenant
//! switch, which the provider pays for) by GPU type, and the GPUs of its work waiting,
//! integrated exactly (integer GPU-microseconds) into what its contract bills and what its
//! guarantee failed to deliver.

use crate::units::Time;

/// GPUs a tenant's waiting work needs beyond anything countable: a held backlog (thousands
/// of jobs kept as a count) wants more than any reservation.
pub const UNBOUNDED: u64 = u64::MAX / 4;

#[derive(Clone, Debug, Default)]
pub struct Meter {
    /// Held GPU time is integrated up to `last`, the shortfall up to `last_short`.
    last: Time,
    last_short: Time,
    reserved_total: u64,
    held_total: u64,
    /// Reserved GPUs per type, and of any type.
    reserved: Vec<u64>,
    reserved_any: u64,
    /// Billable GPUs held now, per type.
    held: Vec<u64>,
    /// GPUs the tenant's queued work needs (each request on its smallest shape, and placed
    /// work still in its tenant switch), and backlogs held as a count (each makes the need
    /// unbounded).
    waiting: u64,
    /// Of `waiting`, GPUs already placed for the tenant and in their tenant switch.
    switching: u64,
    backlogs: u64,
    /// Billable GPU-µs held, per type.
    pub held_us: Vec<u128>,
    /// GPU-µs held inside the reservation of any type (`reserved_gpus.any`), per type: typed
    /// reservations cover their own type first, the `any` reservation what is held beyond
    /// them, in config order of types, then typed reservations left unused what is still
    /// beyond (their take-or-pay bill already counts those hours).
    pub any_covered_us: Vec<u128>,
    /// GPU-µs held beyond every reservation together, per type.
    pub burst_us: Vec<u128>,
    /// GPU-µs of the `any` reservation not held.
    pub any_unused_us: u128,
    /// GPU-µs reserved, wanted by waiting work and not held: what the guarantee did not
    /// deliver.
    pub shortfall_us: u128,
    /// Of `shortfall_us`, the GPU-µs of GPUs already placed for the tenant and in their
    /// tenant switch (scrub, re-image, attest): the switch a pooled fleet pays before a
    /// borrowed GPU is the tenant's, which no number of spare GPUs removes.
    pub shortfall_in_switch_us: u128,
    /// Since when the tenant has been short without a break, and the longest such spell.
    short_since: Option<Time>,
    pub longest_shortfall_us: Time,
}

impl Meter {
    pub fn new(reserved: &[u32], reserved_any: u32) -> Self {
        let n = reserved.len();
        Meter {
            reserved_total: reserved.iter().map(|&r| r as u64).sum::<u64>() + reserved_any as u64,
            reserved: reserved.iter().map(|&r| r as u64).collect(),
            reserved_any: reserved_any as u64,
            held: vec![0; n],
            held_us: vec![0; n],
            any_covered_us: vec![0; n],
            burst_us: vec![0; n],
            ..Default::default()
        }
    }

    /// Integrates the meter's figures up to `now` at the current counts.
    #[inline]
    pub fn advance(&mut self, now: Time) {
        self.advance_held(now);
        self.advance_short(now);
    }

    /// Integrates the held GPU time and its split into reserved and burst.
    #[inline]
    fn advance_held(&mut self, now: Time) {
        let dt = now.saturating_sub(self.last) as u128;
        self.last = self.last.max(now);
        if dt == 0 {
            return;
        }
        let mut any_left = self.reserved_any;
        if self.held_total > 0 {
            // Typed reservations a type's own GPUs leave unused: they cover GPUs of other
            // types held instead (the guarantee counts GPUs of any type, so the provider may
            // deliver a reservation on other hardware; the contract bills it as reserved).
            let mut unused_typed: u64 = (self.held.iter().zip(&self.reserved))
                .map(|(&h, &r)| r.saturating_sub(h))
                .sum();
            for t in 0..self.held.len() {
                let h = self.held[t];
                if h == 0 {
                    continue;
                }
                self.held_us[t] += h as u128 * dt;
                let beyond = h.saturating_sub(self.reserved[t]);
                let covered = beyond.min(any_left);
                any_left -= covered;
                let substituted = (beyond - covered).min(unused_typed);
                unused_typed -= substituted;
                self.any_covered_us[t] += covered as u128 * dt;
                self.burst_us[t] += (beyond - covered - substituted) as u128 * dt;
            }
        }
        self.any_unused_us += any_left as u128 * dt;
    }

    /// Integrates the shortfall: reserved GPUs wanted by waiting work and not held.
    #[inline]
    fn advance_short(&mut self, now: Time) {
        let from = self.last_short;
        let dt = now.saturating_sub(from) as u128;
        self.last_short = from.max(now);
        if dt == 0 {
            return;
        }
        let want = if self.backlogs > 0 {
            UNBOUNDED
        } else {
            self.waiting
        };
        let short = self
            .reserved_total
            .saturating_sub(self.held_total)
            .min(want);
        self.shortfall_us += short as u128 * dt;
        self.shortfall_in_switch_us += short.min(self.switching) as u128 * dt;
        if short > 0 {
            let since = *self.short_since.get_or_insert(from);
            self.longest_shortfall_us = self.longest_shortfall_us.max(now - since);
        } else {
            self.short_since = None;
        }
    }

    /// `gpus` of type `t` become billable (`add`) or stop being (integrated first).
    #[inline]
    pub fn held_change(&mut self, now: Time, t: usize, gpus: u64, add: bool) {
        self.advance(now);
        if add {
            self.held[t] += gpus;
            self.held_total += gpus;
        } else {
            self.held[t] -= gpus;
            self.held_total -= gpus;
        }
    }

    /// Work needing `gpus` GPUs enters (`add`) or leaves the queue.
    #[inline]
    pub fn waiting_change(&mut self, now: Time, gpus: u64, add: bool) {
        self.advance_short(now);
        if add {
            self.waiting += gpus;
        } else {
            self.waiting -= gpus;
        }
    }

    /// GPUs placed for the tenant enter (`add`) or leave their tenant switch: until it ends
    /// they count as wanted, and as in a switch.
    #[inline]
    pub fn switching_change(&mut self, now: Time, gpus: u64, add: bool) {
        self.waiting_change(now, gpus, add);
        if add {
            self.switching += gpus;
        } else {
            self.switching -= gpus;
        }
    }

    /// A backlog held as a count starts (`add`) or runs out.
    pub fn backlog_change(&mut self, now: Time, add: bool) {
        self.advance_short(now);
        if add {
            self.backlogs += 1;
        } else {
            self.backlogs -= 1;
        }
    }

    /// Billable GPUs held now, per type.
    pub fn held(&self) -> &[u64] {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::US_PER_HOUR as H;

    #[test]
    fn typed_then_any_then_burst() {
        // 4 H100 and 2 of any type reserved; holds 7 H100 and 1 GB200 for an hour.
        let mut m = Meter::new(&[4, 0], 2);
        m.held_change(0, 0, 7, true);
        m.held_change(0, 1, 1, true);
        m.advance(H);
        assert_eq!(m.held_us, vec![7 * H as u128, H as u128]);
        // H100 beyond its 4: 3, of which the `any` 2 cover 2; GB200 burst 1.
        assert_eq!(m.any_covered_us, vec![2 * H as u128, 0]);
        assert_eq!(m.burst_us, vec![H as u128, H as u128]);
        assert_eq!(m.any_unused_us, 0);
        assert_eq!(m.shortfall_us, 0);
    }

    #[test]
    fn unused_typed_reservations_cover_other_types() {
        // 8 H200 reserved, none held; 10 H100 held instead: 8 covered, 2 burst.
        let mut m = Meter::new(&[0, 8], 0);
        m.held_change(0, 0, 10, true);
        m.advance(H);
        assert_eq!(m.burst_us, vec![2 * H as u128, 0]);
        assert_eq!(m.any_covered_us, vec![0, 0]);
    }

    #[test]
    fn shortfall_is_reserved_wanted_and_not_held() {
        let mut m = Meter::new(&[8], 0);
        // 3 held, 2 waiting: short by 2 (it wants no more); then a backlog: short by 5.
        m.held_change(0, 0, 3, true);
        m.waiting_change(0, 2, true);
        m.backlog_change(H, true);
        m.advance(2 * H);
        assert_eq!(m.shortfall_us, (2 + 5) * H as u128);
        assert_eq!(m.any_unused_us, 0);
        assert_eq!(m.longest_shortfall_us, 2 * H);
        // Held up to the reservation: the spell ends; a new one is counted afresh.
        m.held_change(2 * H, 0, 5, true);
        m.held_change(3 * H, 0, 1, false);
        m.advance(4 * H);
        assert_eq!(m.longest_shortfall_us, 2 * H);
        assert_eq!(m.shortfall_us, (7 + 1) * H as u128);
    }

    #[test]
    fn the_shortfall_in_a_tenant_switch_is_counted_apart() {
        let mut m = Meter::new(&[8], 0);
        // 2 held, 4 placed and in their switch for 1 h, 3 more queued: short by 6 (7 wanted,
        // 6 missing), 4 of them in the switch.
        m.held_change(0, 0, 2, true);
        m.switching_change(0, 4, true);
        m.waiting_change(0, 3, true);
        m.advance(H);
        assert_eq!(m.shortfall_us, 6 * H as u128);
        assert_eq!(m.shortfall_in_switch_us, 4 * H as u128);
        // The switch ends: 6 held, 3 still queued but only 2 missing.
        m.switching_change(H, 4, false);
        m.held_change(H, 0, 4, true);
        m.advance(2 * H);
        assert_eq!(m.shortfall_us, 8 * H as u128);
        assert_eq!(m.shortfall_in_switch_us, 4 * H as u128);
    }
}
