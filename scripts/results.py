#!/usr/bin/env python3
"""Prints the result tables of docs/results.md as Markdown, from the JSON of `simulate` runs.

    python3 scripts/results.py size       # Fleet sizing of the default region
    python3 scripts/results.py size-sweep # ... at several switch-cost scales
    python3 scripts/results.py size-seeds # ... on four sets of three seeds, and on twelve
    python3 scripts/results.py migration  # heterogeneity_aware with and without migration
    python3 scripts/results.py policies   # Policies side by side on the default region
    python3 scripts/results.py policies configs/saturated.toml   # ... on the saturated region
    python3 scripts/results.py sweep configs/saturated.toml      # Switch-cost sweep
    python3 scripts/results.py scenario configs/anchor.toml
    python3 scripts/results.py replay configs/azure_two_tenants.toml
    python3 scripts/results.py margins    # Margins: the rental anchor and a multi-tenant mix

Each mode runs the command printed above its tables (the binary from `cargo build --release`).
"""
import json
import subprocess
import sys

SIM = "./target/release/simulate"


def run(args, table_only=()):
    """Runs `simulate ARGS --quiet` (flags in `table_only` change only the printed table, so
    they are shown but not passed)."""
    print(f"`simulate {' '.join([*args, *table_only])}`\n")
    out = subprocess.run([SIM, *args, "--quiet"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def num(x, d):
    return f"{x:,.{d}f}"


def cell(s, k=1.0, d=1):
    if s is None:
        return "-"
    if s["ci95"] > 0:
        return f"{num(s['mean'] * k, d)} ± {num(s['ci95'] * k, d)}"
    return num(s["mean"] * k, d)


def mean(xs):
    return sum(xs) / len(xs)


def runs_of(data, policy):
    return [r for r in data["runs"] if r["policy"] == policy]


def policies(path="configs/fleet.toml"):
    d = run([path, "--compare", "--seeds", "5"], ["--by-type"])
    print("| policy | utilization % | M tokens / GPU-h | tenant-switch GPU-h | workflow-switch GPU-h | SLO % | training wait p99 h | jobs never started | gross margin % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in d["summary"]:
        print(f"| `{s['policy']}` | {cell(s['gpu_utilization'], 100)} | {cell(s['tokens_per_gpu_hour'], 1e-6, 2)} | "
              f"{cell(s['tenant_switch_gpu_hours'], 1, 0)} | {cell(s['workflow_switch_gpu_hours'], 1, 0)} | "
              f"{cell(s['slo_attainment'], 100)} | {cell(s['training_wait_p99_hours'])} | {cell(s['jobs_never_started'], 1, 0)} | {cell(s['gross_margin'], 100)} |")
    types = list(d["summary"][0]["by_gpu_type"].keys())
    print("\nPer GPU type:\n")
    print("| policy | " + " | ".join(f"{t} util % | {t} M tok/GPU-h" for t in types) + " |")
    print("|---|" + "---|---|" * len(types))
    for s in d["summary"]:
        cells = []
        for t in types:
            u, k = s["by_gpu_type"][t]
            cells += [cell(u, 100), cell(k, 1e-6, 2)]
        print(f"| `{s['policy']}` | " + " | ".join(cells) + " |")
    print("\nWork, money, guarantees and energy:\n")
    money_table(d)
    tenants = list(d["runs"][0]["by_tenant"].keys())
    print("\nGuarantee shortfall GPU-hours per tenant (mean over the 5 seeds; reserved GPUs in brackets):\n")
    print("| policy | " + " | ".join(f"{t} ({d['runs'][0]['by_tenant'][t]['reserved_gpus']})" for t in tenants) + " |")
    print("|---|" + "---|" * len(tenants))
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        print(f"| `{s['policy']}` | " + " | ".join(num(mean([r['by_tenant'][t]['guarantee_shortfall_gpu_hours'] for r in rs]), 0) for t in tenants) + " |")
    print("\nProductive GPU-hours per tenant (mean over the 5 seeds):\n")
    print("| policy | " + " | ".join(tenants) + " |")
    print("|---|" + "---|" * len(tenants))
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        print(f"| `{s['policy']}` | " + " | ".join(num(mean([r['by_tenant'][t]['gpu_hours'] for r in rs]), 0) for t in tenants) + " |")
    print("\nTokens and work by kind (mean over the 5 seeds; work in thousands of H100-equivalent GPU-hours):\n")
    print("| policy | training tokens (T) | inference tokens (T) | batch tokens (T) | training work | inference work | batch work |")
    print("|---|---|---|---|---|---|---|")
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        k = lambda kind: num(mean([r["by_kind"][kind]["tokens"] for r in rs]) / 1e12, 2)
        w = lambda kind: num(mean([r["by_kind"][kind]["work"]["h100_gpu_hours"] for r in rs]) / 1e3, 0)
        print(f"| `{s['policy']}` | {k('training')} | {k('inference')} | {k('batch')} | {w('training')} | {w('inference')} | {w('batch')} |")
    services = sorted(d["runs"][0]["by_service"])
    tenant_of = {n: d["runs"][0]["by_service"][n]["tenant"] for n in services}
    print("\nInference services: % of demanded tokens served within the SLO delay, and the p99 queueing delay in s (mean over the 5 seeds):\n")
    print("| policy | " + " | ".join(f"{n} ({tenant_of[n]})" for n in services) + " |")
    print("|---|" + "---|" * len(services))
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        cells = []
        for n in services:
            att = mean([r["by_service"][n]["slo_attainment"] or 0.0 for r in rs])
            p99 = mean([r["by_service"][n]["delay_s"]["p99"] for r in rs])
            cells.append(f"{num(100 * att, 1)} ({num(p99, 1)})")
        print(f"| `{s['policy']}` | " + " | ".join(cells) + " |")


def money_table(d):
    print("| policy | work / GPU-h | billed % | committed M$ | burst M$ | per-token M$ | spot + on-demand M$ | shortfall GPU-h | SLA credits k$ | cost M$ | margin % | MWh | M tokens / kWh |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        c = lambda key: num(mean([r["economics"]["revenue_by_contract"][key] for r in rs]) / 1e6, 3)
        burst = num(mean([r["economics"]["burst_usd"] for r in rs]) / 1e6, 3)
        other = num(mean([r["economics"]["revenue_by_contract"]["spot"] + r["economics"]["revenue_by_contract"]["on_demand"] for r in rs]) / 1e6, 3)
        print(f"| `{s['policy']}` | {cell(s['work_per_gpu_hour'], 1, 3)} | {cell(s['billed_utilization'], 100)} | {c('committed')} | {burst} | {c('per_token')} | {other} | "
              f"{cell(s['guarantee_shortfall_gpu_hours'], 1, 0)} | {cell(s['sla_credits_usd'], 1e-3, 1)} | {cell(s['cost_usd'], 1e-6, 3)} | {cell(s['gross_margin'], 100)} | "
              f"{cell(s['energy_mwh'], 1, 0)} | {cell(s['tokens_per_kwh'], 1e-6, 2)} |")


def sweep(path="configs/fleet.toml"):
    d = run([path, "--sweep", "0,1,2,4,10,20,40", "--seeds", "3"])
    sw = d["sweep"]
    pols = [p["policy"] for p in sw["rows"][0]["policies"]]
    for title, key, k, dd in [("utilization %", "gpu_utilization", 100, 1), ("M tokens / GPU-h", "tokens_per_gpu_hour", 1e-6, 2), ("work / GPU-h", "work_per_gpu_hour", 1, 3)]:
        print(f"| switch cost x ({title}) | " + " | ".join(f"`{p}`" for p in pols) + " |")
        print("|---|" + "---|" * len(pols))
        for row in sw["rows"]:
            print(f"| {row['switch_cost_scale']:g} | " + " | ".join(cell(p[key], k, dd) for p in row["policies"]) + " |")
        print()
    print("| policy | tokens / GPU-h advantage gone at | utilization advantage gone at | work / GPU-h advantage gone at |")
    print("|---|---|---|---|")
    last = sw["rows"][-1]["switch_cost_scale"]
    f = lambda x: f"{x:.1f}x" if x is not None else f"beyond {last:g}x"

    def gone(v, key):
        # The crossing of the means, then the range of the seeds' own (paired) crossings.
        s = v[key + "_seeds"]
        if s["distinguishable"] and all(d is False for d in s["distinguishable"]):
            return "not distinguishable"
        if len(s["per_seed"]) >= 2 and s["low"] is not None:
            return f"{f(v[key + '_at'])} (seeds {f(s['low'])}-{f(s['high'])})"
        return f(v[key + "_at"])

    for v in sw["vanishing"]:
        print(f"| `{v['policy']}` | {gone(v, 'tokens_per_gpu_hour')} | {gone(v, 'gpu_utilization')} | {gone(v, 'work_per_gpu_hour')} |")
    # Inference tokens served within their SLO delay, mean over the seeds of each cell.
    print()
    print("| switch cost x (SLO % on time) | " + " | ".join(f"`{p}`" for p in pols) + " |")
    print("|---|" + "---|" * len(pols))
    for row in sw["rows"]:
        x = row["switch_cost_scale"]
        cells = []
        for p in pols:
            rs = [r for r in d["runs"] if r["policy"] == p and r["switch_cost_scale"] == x]
            cells.append(num(100 * mean([r["inference"]["slo_attainment"] for r in rs]), 1))
        print(f"| {x:g} | " + " | ".join(cells) + " |")


def scenario(path):
    d = run([path, "--compare", "--seeds", "3"])
    print(f"`{path}` ({d['runs'][0]['gpus']:,} GPUs)\n")
    print("| policy | utilization % | M tokens / GPU-h | work / GPU-h | tokens / h (B) | training tokens (T) | tenant-switch GPU-h | SLO % | billed % | shortfall GPU-h | margin % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        per_h = mean([r["tokens"] / r["horizon_hours"] for r in rs]) / 1e9
        tr = mean([r["by_kind"]["training"]["tokens"] for r in rs]) / 1e12
        print(f"| `{s['policy']}` | {cell(s['gpu_utilization'], 100)} | {cell(s['tokens_per_gpu_hour'], 1e-6, 2)} | {cell(s['work_per_gpu_hour'], 1, 3)} | {num(per_h, 1)} | {num(tr, 2)} | "
              f"{cell(s['tenant_switch_gpu_hours'], 1, 0)} | {cell(s['slo_attainment'], 100)} | {cell(s['billed_utilization'], 100)} | {cell(s['guarantee_shortfall_gpu_hours'], 1, 0)} | {cell(s['gross_margin'], 100)} |")


def replay(path):
    d = run([path, "--compare", "--seeds", "3"])
    print(f"`{path}` ({d['runs'][0]['gpus']:,} GPUs)\n")
    print("| policy | utilization % | M tokens / GPU-h | inference GPU-h | tenant-switch GPU-h | workflow-switch GPU-h | SLO % | job wait p99 h | margin % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in d["summary"]:
        rs = runs_of(d, s["policy"])
        inf = mean([r["by_kind"]["inference"]["gpu_hours"] for r in rs])
        print(f"| `{s['policy']}` | {cell(s['gpu_utilization'], 100)} | {cell(s['tokens_per_gpu_hour'], 1e-6, 2)} | {num(inf, 0)} | "
              f"{cell(s['tenant_switch_gpu_hours'], 1, 0)} | {cell(s['workflow_switch_gpu_hours'], 1, 0)} | {cell(s['slo_attainment'], 100)} | "
              f"{cell(s['job_wait_p99_hours'])} | {cell(s['gross_margin'], 100)} |")


def size(path="configs/fleet.toml"):
    d = run([path, "--size"])
    t = d["targets"]
    print(f"Targets on each of {len(d['seeds'])} seeds: every service's SLO attainment >= {t['slo_attainment'] * 100:g} %, "
          f"every tenant's training wait p99 <= {t['training_wait_p99_hours']:g} h, every tenant's shortfall waiting for GPUs "
          f"<= {t['shortfall_share'] * 100:g} % of its reserved GPU-hours.\n")
    types = sorted(d["rows"][0]["at"]["gpus_by_type"].keys(), key=lambda k: ["H100", "H200", "GB200"].index(k) if k in ["H100", "H200", "GB200"] else 9)
    print("| policy | fleet scale | GPUs | " + " | ".join(types) + " | capital M$/yr | peak MW | utilization % | margin % | worst SLO % | training wait p99 h | shortfall waiting / in switch % | jobs never started | one step below: missed |")
    print("|---|---|---|" + "---|" * len(types) + "---|---|---|---|---|---|---|---|---|")
    for r in d["rows"]:
        p = r["at"]
        scale = f"{p['fleet_scale']:.2f}" if r["met"] else f"> {p['fleet_scale']:.2f}"
        below = r["below"]
        if below:
            seen, first = set(), []
            for m in below["missed"]:
                if m["seed"] not in seen:
                    seen.add(m["seed"])
                    first.append(m["what"])
            missed = f"{below['fleet_scale']:.2f}: " + "; ".join(sorted(set(first)))
        else:
            missed = "-"
        slo = "-" if p["worst_slo_attainment"] is None else f"{p['worst_slo_attainment'] * 100:.2f}"
        wait = "-" if p["training_wait_p99_hours"] is None else f"{p['training_wait_p99_hours']:.2f}"
        print(f"| `{r['policy']}` | {scale} | {num(p['gpus'], 0)} | " + " | ".join(num(p["gpus_by_type"][k], 0) for k in types) +
              f" | {num(p['capital_usd_per_year'] / 1e6, 1)} | {p['peak_mw']:.2f} | {p['gpu_utilization'] * 100:.1f} | {p['gross_margin'] * 100:.1f} | {slo} | {wait} | "
              f"{p['worst_shortfall_share'] * 100:.3f} / {p['worst_switch_shortfall_share'] * 100:.3f} | {num(p['never_started_jobs'], 0)} | {missed} |")
    if d["dividend"]:
        base = next(r for r in d["rows"] if r["policy"] == d["baseline"])
        print(f"\nAgainst `{d['baseline']}` ({num(base['at']['gpus'], 0)} GPUs) at the same targets:\n")
        print("| policy | GPUs saved | capital M$/yr saved | peak MW saved |")
        print("|---|---|---|---|")
        for v in d["dividend"]:
            print(f"| `{v['policy']}` | {num(v['gpus_saved'], 0)} ({v['gpus_saved_share'] * 100:.1f} %) | {num(v['capital_usd_per_year_saved'] / 1e6, 1)} | {v['peak_mw_saved']:.2f} |")


def size_sweep(path="configs/fleet.toml"):
    d = run([path, "--size", "--sweep", "0,1,2,4,10"])
    ss = d["sizings"]
    names = [r["policy"] for r in ss[0]["rows"]]
    print("| switch cost x | " + " | ".join(f"`{n}`" for n in names) + f" | best saving against `{ss[0]['baseline']}` |")
    print("|---|" + "---|" * len(names) + "---|")
    for s in ss:
        cells = []
        for r in s["rows"]:
            p = r["at"]
            cells.append(f"{num(p['gpus'], 0)} ({p['fleet_scale']:.2f}x)" if r["met"] else f"> {p['fleet_scale']:.2f}x")
        top = max(s["dividend"], key=lambda v: v["gpus_saved"], default=None)
        best = [v["policy"] for v in s["dividend"] if top and v["gpus_saved"] == top["gpus_saved"]]
        saving = f"{num(top['gpus_saved'], 0)} GPUs ({top['gpus_saved_share'] * 100:.1f} %): " + ", ".join(f"`{b}`" for b in best) if top else "-"
        print(f"| {s['switch_cost_scale']:g} | " + " | ".join(cells) + f" | {saving} |")


def size_seeds(path="configs/fleet.toml"):
    sets = [("42-44", ["--seed", "42"]), ("45-47", ["--seed", "45"]), ("48-50", ["--seed", "48"]),
            ("51-53", ["--seed", "51"]), ("42-53 (12 seeds)", ["--seed", "42", "--seeds", "12"])]
    rows = []
    for name, extra in sets:
        rows.append((name, run([path, "--size", *extra])))
    names = [r["policy"] for r in rows[0][1]["rows"]]
    print("| seeds | " + " | ".join(f"`{n}`" for n in names) + " | best saving |")
    print("|---|" + "---|" * len(names) + "---|")
    for name, d in rows:
        cells = [f"{num(r['at']['gpus'], 0)} ({r['at']['fleet_scale']:.2f}x)" if r["met"] else f"> {r['at']['fleet_scale']:.2f}x" for r in d["rows"]]
        top = max(d["dividend"], key=lambda v: v["gpus_saved"], default=None)
        saving = f"{top['gpus_saved_share'] * 100:.1f} %" if top else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {saving} |")


def migration():
    runs = {}
    for path in ["configs/fleet.toml", "configs/saturated.toml"]:
        for extra in [[], ["--migration"]]:
            runs[(path, bool(extra))] = run([path, "--compare", "--seeds", "5", "--policies", "heterogeneity_aware", *extra])
    print("| region | migration | moves per week | training work (k H100 GPU-h) | gained, paired by seed (k) | work / GPU-h | training wait p99 h |")
    print("|---|---|---|---|---|---|---|")
    for (path, on), d in runs.items():
        s = d["summary"][0]
        rs = d["runs"]
        moves = [r["jobs"]["migrations"] for r in rs]
        tw = [r["by_kind"]["training"]["work"]["h100_gpu_hours"] / 1e3 for r in rs]
        base = [r["by_kind"]["training"]["work"]["h100_gpu_hours"] / 1e3 for r in runs[(path, False)]["runs"]]
        gained = "-" if not on else f"{num(min(a - b for a, b in zip(tw, base)), 1)} to {num(max(a - b for a, b in zip(tw, base)), 1)}"
        print(f"| `{path}` | {'on' if on else 'off'} | {min(moves)}-{max(moves)} | {num(mean(tw), 1)} | {gained} | {cell(s['work_per_gpu_hour'], 1, 3)} | "
              f"{cell(s['training_wait_p99_hours'], 1, 2)} |")


def margins():
    for path in ["configs/neocloud_rental.toml", "configs/hyperscale_mix.toml"]:
        d = run([path, "--compare", "--seeds", "3"])
        print(f"`{path}` ({d['runs'][0]['gpus']:,} GPUs)\n")
        money_table(d)
        print()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"policies": policies, "sweep": sweep, "size": size, "size-sweep": size_sweep, "size-seeds": size_seeds, "migration": migration, "margins": margins, "scenario": scenario, "replay": replay}[mode](*args)
