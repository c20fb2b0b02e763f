//! Invariant checks over the whole engine state, run after every event when auditing is on
//! (tests turn it on; it costs a scan of the fleet, so runs leave it off). It reads the state
//! through the policies' view and the engine's public read-only accessors, not its fields.

use super::alloc::Phase;
use super::engine::Engine;
use super::job::JobState;
use super::request::Target;
use crate::fleet::cluster::{ALL_STATES, GpuState, NONE};

pub fn check(e: &Engine) -> Result<(), String> {
    // The engine's state as policies see it (the view), and its public read-only parts.
    let v = e.view();
    let (c, allocs, sc, now, queued_by_tenant) = (v.cluster, v.allocs, v.scenario, v.now, v.queued);
    let (jobs, ledger, queue, stats) = (e.jobs(), e.ledger(), e.queue(), e.stats());
    c.check_indexes()?;
    if ledger.last != now {
        return Err(format!("ledger at {} but clock at {}", ledger.last, now));
    }

    // Allocations hold exactly the GPUs that point back at them, of one type, with the
    // state their phase implies, on nodes of their own tenant.
    let nodes = c.nodes.len();
    let (mut held, mut pinned, mut locked) =
        (vec![0u32; nodes], vec![0u32; nodes], vec![0u32; nodes]);
    // Jobs with an allocation: a running job has exactly one (their count is checked below).
    let mut job_allocs = std::collections::BTreeSet::new();
    for (id, a) in allocs.iter() {
        if !a.preemptible || a.phase != Phase::Running {
            for &(n, k) in &a.nodes {
                pinned[n as usize] += k;
            }
        }
        for &(n, k) in &a.switched {
            locked[n as usize] += k;
        }
        if a.phase != Phase::TenantSwitch && !a.switched.is_empty() {
            return Err(format!(
                "allocation {id} holds switch locks outside its tenant switch"
            ));
        }
        let want = a.gpu_state();
        let mut domain = None;
        let mut one_domain = true;
        for &g in &a.gpus {
            if c.gpu[g as usize].alloc != id {
                return Err(format!(
                    "GPU {g} is listed by allocation {id} but held by {}",
                    c.gpu[g as usize].alloc
                ));
            }
            if c.gpu_state[g as usize] != want {
                return Err(format!(
                    "GPU {g} of allocation {id} is {:?}, its phase says {want:?}",
                    c.gpu_state[g as usize]
                ));
            }
            let n = c.node_of(g);
            let node = &c.nodes[n as usize];
            if node.gpu_type != a.gpu_type {
                return Err(format!("allocation {id} spans GPU types"));
            }
            if node.tenant != Some(a.tenant) {
                return Err(format!(
                    "allocation {id} of tenant {} sits on node {n} of tenant {:?}",
                    a.tenant, node.tenant
                ));
            }
            one_domain &= *domain.get_or_insert(node.domain) == node.domain;
            held[n as usize] += 1;
        }
        let req = match a.target {
            Target::Job(j) => {
                let job = &jobs[j as usize];
                if job.state != JobState::Running || !job_allocs.insert(j) {
                    return Err(format!(
                        "allocation {id} is for job {j}, which is not running or has another"
                    ));
                }
                job.arrival
            }
            Target::Replica(_) => a.placed_at,
        };
        if a.placed_at < req {
            return Err(format!("allocation {id} started before its work arrived"));
        }
        let w = &sc.workloads[a.workload];
        let g = a.gpus.len() as u32;
        // Wide gangs, and replicas wider than a node that fit one domain; a replica wider
        // than its type's domain takes whole nodes anywhere.
        let ty = &sc.gpu_types[a.gpu_type];
        let needs_domain = match &w.spec {
            crate::workload::Spec::Training(s) => s.wide_nvlink,
            _ => g <= ty.nvlink_domain_gpus,
        } && g > ty.node_gpus;
        let ng = sc.gpu_types[a.gpu_type].node_gpus;
        if !crate::fleet::Shape::of(g, ng).matches(ng, a.nodes.iter().map(|x| x.1)) {
            return Err(format!(
                "allocation {id} of {g} GPUs sits on nodes as {:?} (nodes of {ng})",
                a.nodes
            ));
        }
        if needs_domain && !one_domain {
            return Err(format!(
                "gang {id} needs one NVLink domain but spans several"
            ));
        }
    }
    for (g, owner) in c.gpu.iter().map(|s| s.alloc).enumerate() {
        if owner != NONE && allocs.get(owner).is_none() {
            return Err(format!(
                "GPU {g} is held by allocation {owner}, which does not exist"
            ));
        }
        if owner == NONE && matches!(c.gpu_state[g], GpuState::Busy | GpuState::WorkflowSwitch) {
            return Err(format!(
                "GPU {g} is {:?} with no allocation",
                c.gpu_state[g]
            ));
        }
    }

    // Nodes: capacity, isolation (one tenant per node at any instant).
    for (i, node) in c.nodes.iter().enumerate() {
        let used = held[i];
        if node.used != used {
            return Err(format!(
                "node {i} counts {} used GPUs, allocations hold {used}",
                node.used
            ));
        }
        let (want_pinned, want_locked) = (pinned[i], locked[i]);
        if node.pinned != want_pinned || node.locked != want_locked {
            return Err(format!(
                "node {i}: pinned {} / locked {} but allocations say {want_pinned} / {want_locked}",
                node.pinned, node.locked
            ));
        }
        if !node.down && node.free + node.used + node.locked != node.gpus {
            return Err(format!(
                "node {i}: free {} + used {} + locked {} != {}",
                node.free, node.used, node.locked, node.gpus
            ));
        }
        for &(id, end) in &node.holders {
            let a = e
                .allocs
                .get(id)
                .ok_or_else(|| format!("node {i} lists a dead allocation {id}"))?;
            let want = if a.phase == Phase::Running {
                a.phase_start.saturating_add(sc.preempt_exempt)
            } else {
                0
            };
            if end != want {
                return Err(format!(
                    "node {i}: allocation {id} ends its exemption at {end}, not {want}"
                ));
            }
            if Some(a.tenant) != node.tenant {
                return Err(format!(
                    "node {i} serves tenants {:?} and {} at once",
                    node.tenant, a.tenant
                ));
            }
        }
        if node.down && (node.used > 0 || node.locked > 0) {
            return Err(format!("node {i} is down but holds work"));
        }
    }

    // The GPU-time ledger adds up to GPUs x elapsed time.
    let total: u128 = ALL_STATES.iter().map(|&s| ledger.total_in(s)).sum();
    if total != c.gpus() as u128 * now as u128 {
        return Err(format!(
            "ledger holds {total} GPU-us, expected {}",
            c.gpus() as u128 * now as u128
        ));
    }

    // Time booked to tenants plus the open phases equals the integrated state time, state
    // by state: every GPU-µs in a switch or busy is someone's.
    for t in 0..sc.gpu_types.len() {
        let mut open = [0u128; crate::fleet::cluster::N_STATES];
        for (_, a) in allocs.iter() {
            if a.gpu_type == t {
                let begin = if a.loading {
                    a.phase_start - a.workflow_switch
                } else {
                    a.phase_start
                };
                open[a.gpu_state() as usize] +=
                    a.phase_gpus() as u128 * now.saturating_sub(begin) as u128;
            }
        }
        let booked = |f: &dyn Fn(&crate::metrics::Account) -> u128| -> u128 {
            ledger.accounts.iter().map(|row| f(&row[t])).sum()
        };
        for (state, b) in [
            (GpuState::Busy, booked(&|a| a.productive_us)),
            (GpuState::TenantSwitch, booked(&|a| a.tenant_switch_us)),
            (GpuState::WorkflowSwitch, booked(&|a| a.workflow_switch_us)),
        ] {
            let integrated = ledger.state_us[t][state as usize];
            if b + open[state as usize] != integrated {
                return Err(format!(
                    "type {t}: {state:?} GPU-us booked {b} + open {} != integrated {integrated}",
                    open[state as usize]
                ));
            }
        }
    }

    if ledger.total_tokens() < stats.audit_tokens {
        return Err("booked tokens decreased".into());
    }

    let mut queued = vec![0u64; sc.tenants.len()];
    for (key, _) in queue.iter() {
        queued[sc.workloads[key.workload as usize].tenant] += 1;
    }
    if queued != queued_by_tenant {
        return Err(format!(
            "queued per tenant {:?} disagrees with the queue {queued:?}",
            queued_by_tenant
        ));
    }

    // No job is lost: every job is in exactly one state, and queued ones are in the queue.
    let queued_jobs = e
        .queue
        .iter()
        .filter(|(_, target)| matches!(target, Target::Job(_)))
        .count();
    let mut counts = [0usize; 4];
    for job in jobs {
        counts[job.state as usize] += 1;
    }
    if (stats.queued_jobs, stats.running_jobs)
        != (
            counts[JobState::Queued as usize] as u64,
            counts[JobState::Running as usize] as u64,
        )
    {
        return Err("queued/running job counters disagree with the job states".into());
    }
    if counts[JobState::Queued as usize] != queued_jobs {
        return Err(format!(
            "{} jobs are queued but the queue holds {queued_jobs}",
            counts[JobState::Queued as usize]
        ));
    }
    let running = e
        .allocs
        .iter()
        .filter(|(_, a)| matches!(a.target, Target::Job(_)))
        .count();
    if counts[JobState::Running as usize] != running {
        return Err(format!(
            "{} jobs are running but {running} allocations hold jobs",
            counts[JobState::Running as usize]
        ));
    }
    for job in jobs {
        if job.tokens_done > job.tokens_total * (1.0 + 1e-9) + 1e-6 {
            return Err("a job has done more tokens than it has".into());
        }
    }
    Ok(())
}
