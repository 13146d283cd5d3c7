//! Soak run (`BENCH_ONLY=soak`, docs/BENCHMARKS.md "Soak"): 200 phones sync against a real
//! `fangzha serve` process for `BENCH_SOAK_SECS` seconds (default 600), each in a loop: push
//! a batch of 5 mutations (new households and edits of its own), pull its grid from its
//! cursors, sleep 2–8 s. The server's resident memory (VmRSS of its process) is sampled every
//! 5 s. Reports RSS at start, end and peak, requests, errors (target 0) and latencies.
//!
//! The server is its own process (the release build of the `fangzha` binary, on the
//! benchmark's database), so its RSS is the server's alone, not the client's.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fangzha::db;
use fangzha::services::areas;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{
    Bench, DEVICES_PER_GRID, Device, PullPage, PushReply, VILLAGE, area, create_tree, err,
    household_fields, percentile, sorted, thousands,
};

/// Mutations per push.
const BATCH: usize = 5;
/// Pause between a device's syncs, in ms (uniform).
const PAUSE_MS: std::ops::Range<u64> = 2_000..8_000;
/// How often the server's RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Grids (× `DEVICES_PER_GRID` devices).
const GRIDS: usize = 20;

/// The `fangzha serve` process; killed when dropped.
struct ServerProcess {
    child: Child,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// What all devices count together.
#[derive(Default)]
struct Counters {
    pushes: AtomicUsize,
    pulls: AtomicUsize,
    mutations: AtomicUsize,
    /// Requests that failed: a connection error (after one retry) or a non-200 answer.
    errors: AtomicUsize,
    /// Requests sent again after a reset connection (not errors).
    retries: AtomicUsize,
    /// Token pairs renewed after a 401 (access tokens live 15 minutes).
    refreshes: AtomicUsize,
}

/// A phone's token pair. On a 401 it is refreshed once and the request sent again, as the
/// PWA's `authed` requests do.
struct Session {
    access: String,
    refresh: String,
}

impl Session {
    /// `POST /api/auth/refresh`: the new pair, or why not.
    async fn renew(&mut self, client: &reqwest::Client, base: &str) -> Result<(), String> {
        let resp = client
            .post(format!("{base}/api/auth/refresh"))
            .json(&json!({"refresh_token": self.refresh}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        match super::token_pair(&body) {
            Some((access, refresh)) if status.is_success() => {
                self.access = access;
                self.refresh = refresh;
                Ok(())
            }
            _ => Err(format!("{status} {body}")),
        }
    }
}

struct Sample {
    secs: f64,
    rss_kib: u64,
    pushes: usize,
    pulls: usize,
    errors: usize,
}

/// One backend's soak run.
pub async fn run(backend: &str) -> anyhow::Result<()> {
    let secs: u64 = std::env::var("BENCH_SOAK_SECS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir()?;
    let main_db = super::fresh_db(backend, dir.path(), "soak")?;
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server_log = std::env::var_os("BENCH_SERVER_LOG").is_some();
    let child = Command::new(env!("CARGO_BIN_EXE_fangzha"))
        .current_dir(&data_dir)
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--database")
        .arg(&main_db.url)
        .arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .env("FANGZHA__LOG_LEVEL", "warn")
        .env("FANGZHA__DB_POOL_SIZE", super::DB_POOL_SIZE.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if server_log {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .context("starting fangzha serve")?;
    let server = ServerProcess { child };
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        // Below actix's 5 s keep-alive (see the crowd benchmark).
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(120))
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("fangzha serve did not answer /healthz within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pool = db::connect(&main_db.url, 2)?;
    let bench = Bench { base, client, pool };

    // Areas and accounts straight into the database (the server has migrated it).
    let grids: Vec<String> = (1..=GRIDS).map(|i| format!("soak-grid-{i:02}")).collect();
    {
        let grids = grids.clone();
        db::run_tx(&bench.pool, move |conn| {
            create_tree(conn)?;
            for (i, g) in grids.iter().enumerate() {
                areas::create(
                    conn,
                    area(g, &format!("第{}网格", i + 3), "grid", Some(VILLAGE)),
                    None,
                )?;
            }
            Ok(())
        })
        .await
        .map_err(err)?;
    }
    let workers: Vec<(String, String)> = grids
        .iter()
        .flat_map(|g| (0..DEVICES_PER_GRID).map(move |d| (format!("{g}-w{d}"), g.clone())))
        .collect();
    super::create_grid_workers(&bench.pool, &workers).await?;
    let mut tokens = Vec::new();
    for chunk in workers.chunks(4) {
        for t in
            futures_util::future::join_all(chunk.iter().map(|(n, _)| bench.login_pair(n))).await
        {
            tokens.push(t?);
        }
    }

    let rss_start = rss_kib(pid).context("reading the server's VmRSS")?;
    println!(
        "\nsoak {backend}: {} devices, {secs} s, batch {BATCH}, pause {}–{} s; server pid {pid}, RSS at start {}",
        workers.len(),
        PAUSE_MS.start / 1000,
        PAUSE_MS.end / 1000,
        mib(rss_start)
    );
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for (i, ((_, grid), (access, refresh))) in workers.iter().zip(tokens).enumerate() {
        let client = bench.client.clone();
        let base = bench.base.clone();
        let grid = grid.clone();
        let counters = counters.clone();
        handles.push(tokio::spawn(async move {
            let session = Session { access, refresh };
            device_loop(client, base, grid, session, i as u64, deadline, counters).await
        }));
    }

    let load_started = Instant::now();
    let mut samples = vec![Sample {
        secs: 0.0,
        rss_kib: rss_start,
        pushes: 0,
        pulls: 0,
        errors: 0,
    }];
    while Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY.min(deadline - Instant::now())).await;
        samples.push(Sample {
            secs: load_started.elapsed().as_secs_f64(),
            rss_kib: rss_kib(pid).unwrap_or(0),
            pushes: counters.pushes.load(Ordering::Relaxed),
            pulls: counters.pulls.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
        });
    }
    let mut push_ms = Vec::new();
    let mut pull_ms = Vec::new();
    for h in handles {
        let (pu, pl) = h.await?;
        push_ms.extend(pu);
        pull_ms.extend(pl);
    }
    let total_secs = load_started.elapsed().as_secs_f64();
    let rss_end = rss_kib(pid).unwrap_or(0);
    samples.push(Sample {
        secs: total_secs,
        rss_kib: rss_end,
        pushes: counters.pushes.load(Ordering::Relaxed),
        pulls: counters.pulls.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
    });
    let records = db::run(&bench.pool, |conn| {
        use diesel::prelude::*;
        use fangzha::db::schema::records;
        Ok(records::table.count().get_result::<i64>(conn)?)
    })
    .await
    .map_err(err)?;

    println!("  time      RSS     pushes    pulls  errors");
    let every = (60.0 / SAMPLE_EVERY.as_secs_f64()).round() as usize;
    for (i, s) in samples.iter().enumerate() {
        if i.is_multiple_of(every) || i == samples.len() - 1 {
            println!(
                "  {:>4.0} s  {:>10}  {:>7}  {:>7}  {:>6}",
                s.secs,
                mib(s.rss_kib),
                thousands(s.pushes as f64),
                thousands(s.pulls as f64),
                s.errors
            );
        }
    }
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let (push_s, pull_s) = (sorted(&push_ms), sorted(&pull_ms));
    let pushes = counters.pushes.load(Ordering::Relaxed);
    let pulls = counters.pulls.load(Ordering::Relaxed);
    println!(
        "soak {backend}: RSS start {} / end {} / peak {}; {} pushes ({} mutations) and {} pulls in {:.0} s ({:.1} requests/s); errors {}, retried connections {}, token refreshes {}; {} records at the end",
        mib(rss_start),
        mib(rss_end),
        mib(peak),
        thousands(pushes as f64),
        thousands(counters.mutations.load(Ordering::Relaxed) as f64),
        thousands(pulls as f64),
        total_secs,
        (pushes + pulls) as f64 / total_secs,
        counters.errors.load(Ordering::Relaxed),
        counters.retries.load(Ordering::Relaxed),
        counters.refreshes.load(Ordering::Relaxed),
        thousands(records as f64),
    );
    println!(
        "soak {backend}: push p50/p95/p99 {:.0}/{:.0}/{:.0} ms; pull p50/p95/p99 {:.0}/{:.0}/{:.0} ms",
        percentile(&push_s, 0.5),
        percentile(&push_s, 0.95),
        percentile(&push_s, 0.99),
        percentile(&pull_s, 0.5),
        percentile(&pull_s, 0.95),
        percentile(&pull_s, 0.99),
    );
    drop(server);
    drop(bench);
    drop(main_db);
    Ok(())
}

/// One phone until the deadline: push, pull, pause. Returns its push and pull latencies.
async fn device_loop(
    client: reqwest::Client,
    base: String,
    grid: String,
    mut session: Session,
    seed: u64,
    deadline: Instant,
    counters: Arc<Counters>,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(7_000 + seed);
    // The device's own token field is unused: requests take the session's current one.
    let mut dev = Device::new(String::new());
    let mut own: Vec<String> = Vec::new();
    let mut cursors: BTreeMap<String, i64> = BTreeMap::new();
    let (mut push_ms, mut pull_ms) = (Vec::new(), Vec::new());
    // Start spread over one pause, as phones do.
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..PAUSE_MS.end))).await;
    while Instant::now() < deadline {
        // New households, and edits of ones this device made (the merge path).
        let mutations: Vec<Value> = (0..BATCH)
            .map(|_| {
                if own.is_empty() || rng.random_bool(0.6) {
                    let (m, (id, _, _)) = dev.put_household(&grid, &mut rng);
                    own.push(id);
                    m
                } else {
                    let id = own[rng.random_range(0..own.len())].clone();
                    let mut fields = household_fields(&mut rng);
                    fields.retain(|k, _| k == "notes" || k == "kind");
                    dev.mid += 1;
                    json!({"mid": dev.mid, "hlc": dev.hlc(), "entity": "household", "id": id,
                           "scope": grid, "op": "put", "fields": fields})
                }
            })
            .collect();
        let t = Instant::now();
        match post(
            &client,
            &base,
            "/api/sync/push",
            &mut session,
            &dev.push_body(mutations),
            &counters,
        )
        .await
        {
            Some(bytes) => {
                push_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                counters.pushes.fetch_add(1, Ordering::Relaxed);
                let done = serde_json::from_slice::<PushReply>(&bytes).map_or(0, |r| {
                    r.results
                        .iter()
                        .filter(|r| r.status == "applied" || r.status == "duplicate")
                        .count()
                });
                if done != BATCH {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
                counters.mutations.fetch_add(done, Ordering::Relaxed);
            }
            None => {
                // Mids must stay gapless: the next batch resends nothing, so stop this
                // device rather than measure mid_gap answers.
                return (push_ms, pull_ms);
            }
        }
        loop {
            let t = Instant::now();
            let body = json!({"client_id": dev.client_id, "schema": 1, "cursors": cursors});
            let Some(bytes) = post(
                &client,
                &base,
                "/api/sync/pull",
                &mut session,
                &body,
                &counters,
            )
            .await
            else {
                break;
            };
            pull_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            counters.pulls.fetch_add(1, Ordering::Relaxed);
            match serde_json::from_slice::<PullPage>(&bytes) {
                Ok(page) => {
                    cursors = page.cursors;
                    if !page.has_more {
                        break;
                    }
                }
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        let pause = Duration::from_millis(rng.random_range(PAUSE_MS));
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    (push_ms, pull_ms)
}

/// POSTs JSON; the body of a 200 answer, or `None` after counting an error. A connection
/// reset is retried once (as a phone would; push is keyed by mid, so a repeat is harmless),
/// and so is a 401 after renewing the session's tokens.
async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    session: &mut Session,
    body: &Value,
    counters: &Counters,
) -> Option<bytes::Bytes> {
    let (mut resent, mut renewed) = (false, false);
    loop {
        let sent = client
            .post(format!("{base}{path}"))
            .bearer_auth(&session.access)
            .json(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if !resent && !e.is_timeout() => {
                resent = true;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                println!("{path}: {e}");
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED && !renewed {
            renewed = true;
            if let Err(e) = session.renew(client, base).await {
                println!("/api/auth/refresh: {e}");
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            counters.refreshes.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match resp.bytes().await {
            Ok(b) if status.is_success() => return Some(b),
            Ok(b) => {
                println!("{path}: {status} {}", String::from_utf8_lossy(&b));
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(e) if !resent && !e.is_timeout() => {
                resent = true;
                counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                println!("{path}: {e}");
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
    }
}
