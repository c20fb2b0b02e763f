//! Money, energy and work from the ledger: what each tenant's contract bills (take-or-pay
//! reservations, bursts, on-demand, spot and per-token lines), the SLA credits its guarantee
//! shortfall earns, what the fleet costs (capital and energy), and work in reference
//! GPU-hours. Every breakdown adds up to its total; `tests/money.rs` checks it.

use serde::Serialize;

use crate::config::Scenario;
use crate::metrics::Ledger;
use crate::units::US_PER_HOUR;
use crate::workload::{Burst, Contract};

fn h(us: u128) -> f64 {
    us as f64 / US_PER_HOUR as f64
}

/// One figure per contract kind.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ByContract<T> {
    pub committed: T,
    pub on_demand: T,
    pub spot: T,
    pub per_token: T,
}

impl<T> ByContract<T> {
    pub fn get_mut(&mut self, c: &Contract) -> &mut T {
        match c {
            Contract::Committed { .. } => &mut self.committed,
            Contract::OnDemand => &mut self.on_demand,
            Contract::Spot => &mut self.spot,
            Contract::PerToken { .. } => &mut self.per_token,
        }
    }
}

/// What one tenant's contract bills on each GPU type, before SLA credits.
#[derive(Clone, Debug, Default)]
pub struct Bill {
    /// USD per GPU type.
    pub usd: Vec<f64>,
    /// Of which for GPUs held beyond a committed reservation, at its burst price.
    pub burst_usd: f64,
    /// GPU-hours billed per type (reserved hours for take-or-pay, held hours otherwise).
    pub billed_h: Vec<f64>,
    /// SLA credits per type (the credit spread over the reservation's types by price).
    pub credits_usd: Vec<f64>,
    pub shortfall_h: f64,
    /// Of `shortfall_h`, GPU-hours of GPUs placed for the tenant and in their tenant switch.
    pub shortfall_in_switch_h: f64,
}

/// The cheapest committed price among the types the fleet has: an `any` reservation's unused
/// hours are billed at it (the tenant could have had those GPUs at that price).
fn cheapest(sc: &Scenario) -> usize {
    (0..sc.gpu_types.len())
        .filter(|&t| sc.type_gpus(t) > 0)
        .min_by(|&a, &b| {
            let p = |t: usize| sc.gpu_types[t].price_usd_per_gpu_hour;
            p(a).total_cmp(&p(b)).then(a.cmp(&b))
        })
        .unwrap_or(0)
}

/// Tenant `i`'s bill.
// The loops walk several per-type arrays in step; indexing reads plainer than zipping five.
#[allow(clippy::needless_range_loop)]
pub fn bill(sc: &Scenario, l: &Ledger, i: usize) -> Bill {
    let ten = &sc.tenants[i];
    let m = &l.meters[i];
    let acc = &l.accounts[i];
    let n = sc.gpu_types.len();
    let horizon_h = h(sc.horizon as u128);
    let mut b = Bill {
        usd: vec![0.0; n],
        billed_h: vec![0.0; n],
        credits_usd: vec![0.0; n],
        shortfall_h: h(m.shortfall_us),
        shortfall_in_switch_h: h(m.shortfall_in_switch_us),
        burst_usd: 0.0,
    };
    let price = |t: usize| sc.gpu_types[t].price_usd_per_gpu_hour;
    match &ten.contract {
        Contract::Committed { multiplier, burst } => {
            let low = cheapest(sc);
            // What a reserved GPU-hour costs the tenant on each type, for the SLA credit.
            let mut weight = vec![0.0; n];
            for t in 0..n {
                let reserved_h = ten.reserved[t] as f64 * horizon_h;
                let covered_h = h(m.any_covered_us[t]);
                let burst_h = h(m.burst_us[t]);
                let g = &sc.gpu_types[t];
                // The loader requires the burst price wherever the fleet has GPUs of the type.
                let burst_price = match burst {
                    Burst::Spot => g.spot_usd_per_gpu_hour,
                    Burst::OnDemand => g.on_demand_usd_per_gpu_hour,
                    Burst::Committed => None,
                }
                .unwrap_or(multiplier * price(t));
                let burst = burst_h * burst_price;
                b.usd[t] += multiplier * price(t) * (reserved_h + covered_h) + burst;
                b.burst_usd += burst;
                b.billed_h[t] += reserved_h + covered_h + burst_h;
                weight[t] += ten.reserved[t] as f64 * multiplier * price(t);
            }
            let unused_h = h(m.any_unused_us);
            b.usd[low] += multiplier * price(low) * unused_h;
            b.billed_h[low] += unused_h;
            weight[low] += ten.reserved_any as f64 * multiplier * price(low);
            // Credits: a share of the committed price of each GPU-hour not delivered, at the
            // reservation's mean price per GPU.
            let reserved = ten.reserved_total() as f64;
            if reserved > 0.0 {
                for t in 0..n {
                    b.credits_usd[t] =
                        sc.economics.sla_credit_share * b.shortfall_h * weight[t] / reserved;
                }
            }
        }
        Contract::OnDemand | Contract::Spot => {
            for t in 0..n {
                let g = &sc.gpu_types[t];
                let p = if ten.contract == Contract::Spot {
                    g.spot_usd_per_gpu_hour
                } else {
                    g.on_demand_usd_per_gpu_hour
                };
                let held_h = h(m.held_us[t]);
                // The loader requires the price wherever the fleet has GPUs of the type.
                b.usd[t] = held_h * p.unwrap_or(0.0);
                b.billed_h[t] = held_h;
            }
        }
        Contract::PerToken {
            usd_per_million_output,
            usd_per_million_input,
            ..
        } => {
            for t in 0..n {
                let a = &acc[t];
                b.usd[t] = (usd_per_million_output * a.tokens
                    + usd_per_million_input * a.prompt_tokens)
                    / 1e6;
                b.billed_h[t] = h(m.held_us[t]);
            }
        }
    }
    b
}

/// Mean and peak power and energy of a set of GPU types.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct EnergyFigures {
    /// Facility energy (PUE included), kWh.
    pub kwh: f64,
    /// Mean facility power over the horizon, MW.
    pub mean_mw: f64,
    /// Highest mean power of any interval of the profile (15 minutes, wider for horizons
    /// beyond about 3 years), MW.
    pub peak_mw: f64,
    /// Output tokens per kWh (`null` when no energy was drawn).
    pub tokens_per_kwh: Option<f64>,
}

/// Energy of the GPU types `types` together, which produced `tokens`.
pub fn energy_of(sc: &Scenario, l: &Ledger, types: &[usize], tokens: f64) -> EnergyFigures {
    let joules: f64 = types.iter().map(|&t| l.energy.joules[t]).sum();
    let kwh = joules / 3.6e6;
    let mut peak_w = 0.0f64;
    let profiles: Vec<Vec<f64>> = types.iter().map(|&t| l.energy.profile(t)).collect();
    if let Some(first) = profiles.first() {
        for i in 0..first.len() {
            peak_w = peak_w.max(profiles.iter().map(|p| p[i]).sum());
        }
    }
    let hours = h(sc.horizon as u128);
    EnergyFigures {
        kwh,
        mean_mw: if hours > 0.0 { kwh / hours / 1e3 } else { 0.0 },
        peak_mw: peak_w / 1e6,
        tokens_per_kwh: (kwh > 0.0).then(|| tokens / kwh),
    }
}

/// Work done, in GPU-hours of the work reference type.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Work {
    /// Tokens over the workload's throughput on the reference type (`simulation.work_reference`,
    /// H100 unless the scenario says otherwise), in GPU-hours of that type.
    pub h100_gpu_hours: f64,
    /// Work per GPU-hour spent (`null` when none was).
    pub per_gpu_hour: Option<f64>,
}

impl Work {
    pub fn of(work_h: f64, gpu_hours: f64) -> Work {
        Work {
            h100_gpu_hours: work_h,
            per_gpu_hour: (gpu_hours > 0.0).then(|| work_h / gpu_hours),
        }
    }
}
