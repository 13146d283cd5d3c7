//! Sync engine tests driven through the library (no HTTP): a seeded deterministic
//! simulation of phones, network faults, restarts and reassignments (`sim`); concurrent
//! pushers against a paging reader (`concurrency`); an explicit scope-change scenario
//! (`scope_change`); and minimal scenarios of contract gaps the simulation found
//! (`contract`).
//!
//! - `SYNC_SIM_SEEDS=N` runs seeds 0..N (default 200 on SQLite, 20 on PostgreSQL);
//! - `SYNC_SIM_SEED=S` runs only seed S (a failure names its seed);
//! - `SYNC_SIM_TRACE=1` prints every step, request and answer (use with one seed);
//! - `TEST_DATABASE_URL=postgres://…` runs everything on fresh PostgreSQL databases.

mod concurrency;
mod contract;
mod device;
mod rng;
mod scope_change;
mod sim;
mod support;
#[path = "../common/test_db.rs"]
mod test_db;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

/// Steps of one seed: 150–300, chosen by the seed so a replay is exact.
fn steps_for(seed: u64) -> usize {
    150 + (seed % 151) as usize
}

#[test]
fn simulation() {
    let postgres = support::postgres_admin_url().is_some();
    let seeds: Vec<u64> = match env_u64("SYNC_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("SYNC_SIM_SEEDS").unwrap_or(if postgres { 20 } else { 200 })).collect(),
    };
    // Seeds are independent (one database each), so they run side by side.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(seeds.len());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let totals = Mutex::new(sim::Stats::default());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // A few failing seeds say enough; stop early rather than run them all.
                    if i >= seeds.len() || failures.lock().unwrap().len() >= 3 {
                        break;
                    }
                    let seed = seeds[i];
                    match catch_unwind(AssertUnwindSafe(|| sim::run(seed, steps_for(seed)))) {
                        Ok(stats) => totals.lock().unwrap().add(&stats),
                        Err(e) => {
                            let msg = e
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            failures.lock().unwrap().push((seed, msg));
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let failures = failures.into_inner().unwrap();
    let done = done.into_inner();
    println!(
        "sync simulation on {}: {done} seeds in {elapsed:.1} s ({:.1} seeds/s, {threads} threads); {:?}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        done as f64 / elapsed,
        totals.into_inner().unwrap()
    );
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(s, m)| format!("seed {s}: {m}"))
            .collect();
        panic!(
            "{} seed(s) failed; replay one with SYNC_SIM_SEED=<seed>:\n{}",
            failures.len(),
            list.join("\n")
        );
    }
}
