//! Config sections about money and work units: each tenant's contract, the scenario-wide
//! economics (energy price, SLA credits), and the reference GPU type that work is measured in.

use super::limits as L;
use super::locate::KeyPath;
use super::raw::{RawConfig, RawTenant};
use super::{ConfigError, Ctx, p};
use crate::fleet::{GpuType, TypeId};
use crate::workload::{Burst, Contract, Kind, Tenant};

/// Scenario-wide prices that are not per GPU type.
#[derive(Clone, Debug, PartialEq)]
pub struct Economics {
    /// USD per kWh of facility energy.
    pub energy_usd_per_kwh: f64,
    /// SLA credit per GPU-hour of guarantee shortfall, as a share of the committed price.
    pub sla_credit_share: f64,
}

impl Ctx<'_> {
    /// A tenant's contract, from `contract` and the price fields that go with it.
    pub(super) fn contract(
        &self,
        r: &RawTenant,
        tp: &KeyPath,
        types: &[GpuType],
        type_gpus: &[u32],
    ) -> Result<Contract, ConfigError> {
        let per_token_prices =
            r.usd_per_million_output_tokens.is_some() || r.usd_per_million_input_tokens.is_some();
        let name = match r.contract.as_deref() {
            Some(c) => c,
            None if per_token_prices => "per_token",
            None => "committed",
        };
        let refuse = |ok: bool, key: &str, why: &str| {
            self.check(
                ok,
                tp.clone().key(key),
                format!("{why} (contract `{name}`)"),
            )
        };
        if name != "committed" {
            refuse(
                r.price_multiplier.is_none(),
                "price_multiplier",
                "only a committed contract scales the committed price",
            )?;
            refuse(
                r.burst_price.is_none(),
                "burst_price",
                "only a committed contract has a reservation to burst beyond",
            )?;
        }
        if name != "per_token" {
            refuse(
                !per_token_prices,
                "usd_per_million_output_tokens",
                "token prices belong to a per_token contract",
            )?;
            refuse(
                !r.first_party,
                "first_party",
                "first_party marks an internal per-token transfer price",
            )?;
        }
        let need_price = |key: &str, price: fn(&GpuType) -> Option<f64>| {
            for (t, g) in types.iter().enumerate() {
                if type_gpus[t] > 0 && price(g).is_none() {
                    return Err(self.err(
                        p().key("gpu_types").key(&g.name),
                        format!(
                            "tenant `{}` has a {name} contract: give this GPU type's {key}",
                            r.name
                        ),
                    ));
                }
            }
            Ok(())
        };
        match name {
            "committed" => {
                let m = r.price_multiplier.unwrap_or(1.0);
                self.non_negative(
                    m,
                    L::MAX_PRICE_MULTIPLIER,
                    tp.clone().key("price_multiplier"),
                )?;
                let burst = match r.burst_price.as_deref() {
                    None | Some("spot") => Burst::Spot,
                    Some("on_demand") => Burst::OnDemand,
                    Some("committed") => Burst::Committed,
                    Some(other) => {
                        return Err(self.err(
                            tp.clone().key("burst_price"),
                            format!("unknown burst price `{other}` (use \"spot\", \"on_demand\" or \"committed\")"),
                        ));
                    }
                };
                // The default falls back to the committed price on a type without a spot
                // price; a burst price named explicitly must exist.
                match burst {
                    Burst::Spot if r.burst_price.is_none() => {}
                    Burst::Spot => need_price("spot_usd_per_gpu_hour", |g| g.spot_usd_per_gpu_hour)?,
                    Burst::OnDemand => need_price("on_demand_usd_per_gpu_hour", |g| {
                        g.on_demand_usd_per_gpu_hour
                    })?,
                    Burst::Committed => {}
                }
                Ok(Contract::Committed { multiplier: m, burst })
            }
            "on_demand" | "spot" => {
                refuse(
                    r.reserved_gpus.values().all(|&n| n == 0),
                    "reserved_gpus",
                    "a reservation is a committed contract: on-demand and spot capacity is not guaranteed",
                )?;
                if name == "spot" {
                    need_price("spot_usd_per_gpu_hour", |g| g.spot_usd_per_gpu_hour)?;
                    Ok(Contract::Spot)
                } else {
                    need_price("on_demand_usd_per_gpu_hour", |g| {
                        g.on_demand_usd_per_gpu_hour
                    })?;
                    Ok(Contract::OnDemand)
                }
            }
            "per_token" => {
                let out = r.usd_per_million_output_tokens.ok_or_else(|| {
                    self.err(
                        tp.clone().key("contract"),
                        "a per_token contract needs usd_per_million_output_tokens (and usd_per_million_input_tokens if prompts are billed)",
                    )
                })?;
                let input = r.usd_per_million_input_tokens.unwrap_or(0.0);
                for (v, key) in [
                    (out, "usd_per_million_output_tokens"),
                    (input, "usd_per_million_input_tokens"),
                ] {
                    self.non_negative(v, L::MAX_USD_PER_MILLION_TOKENS, tp.clone().key(key))?;
                }
                Ok(Contract::PerToken {
                    usd_per_million_output: out,
                    usd_per_million_input: input,
                    first_party: r.first_party,
                })
            }
            other => Err(self.err(
                tp.clone().key("contract"),
                format!(
                    "unknown contract `{other}` (use \"committed\", \"on_demand\", \"spot\" or \"per_token\")"
                ),
            )),
        }
    }

    pub(super) fn economics(&self, raw: &RawConfig) -> Result<Economics, ConfigError> {
        let e = &raw.economics;
        let ep = p().key("economics");
        self.non_negative(
            e.energy_usd_per_kwh,
            L::MAX_USD_PER_KWH,
            ep.clone().key("energy_usd_per_kwh"),
        )?;
        self.non_negative(
            e.sla_credit_share,
            L::MAX_SLA_CREDIT_SHARE,
            ep.clone().key("sla_credit_share"),
        )?;
        Ok(Economics {
            energy_usd_per_kwh: e.energy_usd_per_kwh,
            sla_credit_share: e.sla_credit_share,
        })
    }

    /// The GPU type whose GPU-hours measure work.
    pub(super) fn work_reference(
        &self,
        raw: &RawConfig,
        types: &[GpuType],
    ) -> Result<TypeId, ConfigError> {
        let Some(name) = &raw.simulation.work_reference else {
            return Ok(types.iter().position(|g| g.name == "H100").unwrap_or(0));
        };
        types.iter().position(|g| &g.name == name).ok_or_else(|| {
            self.err(
                p().key("simulation").key("work_reference"),
                format!(
                    "unknown GPU type `{name}`: work is measured in GPU-hours of a configured type"
                ),
            )
        })
    }

    /// A workload's throughput on the work reference type: its own rate there, or
    /// `reference_tokens_per_s_per_gpu` where it cannot run there.
    pub(super) fn work_rate(
        &self,
        workload: &str,
        tput: &[Option<f64>],
        given: Option<f64>,
        at: &KeyPath,
        reference: TypeId,
        types: &[GpuType],
    ) -> Result<f64, ConfigError> {
        if let Some(v) = given {
            self.positive(
                v,
                L::MAX_TOKENS_PER_S_PER_GPU,
                at.clone().key("reference_tokens_per_s_per_gpu"),
            )?;
            return Ok(v);
        }
        tput[reference].ok_or_else(|| {
            let name = &types[reference].name;
            self.err(
                at.clone().key("tokens_per_s_per_gpu"),
                format!(
                    "`{workload}` does not run on {name}, the work reference type: give reference_tokens_per_s_per_gpu (what it would do per {name} GPU)"
                ),
            )
        })
    }

    /// Refuses work a tenant's contract cannot bill: training under a per-token contract.
    pub(super) fn billable(
        &self,
        tenant: &Tenant,
        kind: Kind,
        at: &KeyPath,
    ) -> Result<(), ConfigError> {
        self.check(
            !(kind == Kind::Training && matches!(tenant.contract, Contract::PerToken { .. })),
            at.clone().key("tenant"),
            format!(
                "tenant `{}` pays per token, and training produces no tokens it is billed for: give it a committed, on_demand or spot contract",
                tenant.name
            ),
        )
    }
}
