//! Sync benchmark: `cargo bench --bench sync` (docs/BENCHMARKS.md).
//!
//! For each backend (SQLite on a temp file always; PostgreSQL too when `BENCH_DATABASE_URL`
//! or `TEST_DATABASE_URL` names a server, on a fresh database dropped afterwards) a real
//! server runs on 127.0.0.1 and is driven over HTTP with reqwest:
//!
//! 1. push: 5,000 `household` puts from one device in batches of 500, end to end, against a
//!    baseline of the same 5,000 rows inserted straight into `records` (one prepared
//!    statement, one transaction) in a separate database of the same backend;
//! 2. initial pull: a fresh device downloads a 50,000-record grid from cursor 0, page by page;
//! 3. 200 devices at once: each pushes 2 × 50 mutations and then pulls its grid.
//!
//! Each backend runs in a child process of this binary (so its server, pool and threads go
//! away with it). The benchmark reports PASS/MISS against the targets; it never fails on a
//! miss. `BENCH_QUICK=1` scales every workload down 10× for a smoke run; `BENCH_ONLY=push`,
//! `pull` or `devices` (comma-separated) runs only those parts; `BENCH_BACKENDS=postgres` only
//! that backend; `BENCH_SERVER_LOG=1` shows the server's warnings and errors.
//!
//! `BENCH_ONLY=soak` runs the soak instead (`sync/soak.rs`): 200 devices syncing at a phone's
//! pace against a `fangzha serve` process for `BENCH_SOAK_SECS` (default 600), its RSS sampled.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use fangzha::config::{LoginLimits, PushLimits, Settings};
use fangzha::db::records::RecordRow;
use fangzha::db::schema::records;
use fangzha::db::{self, DbConn, Pool};
use fangzha::services::accounts::{self, NewUser};
use fangzha::services::areas::{self, NewArea};
use fangzha::startup::Application;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[path = "sync/soak.rs"]
mod soak;
#[path = "../tests/common/test_db.rs"]
mod test_db;

use test_db::{TestDb, bench_admin_url};

/// Set in the child process: which backend it measures.
const CHILD_VAR: &str = "FANGZHA_BENCH_CHILD";
/// Connections in the server's pool (printed; SQLite writes are serialised anyway).
const DB_POOL_SIZE: u32 = 8;
const PUSH_BATCH: usize = 500;
const CROWD_BATCH: usize = 50;
const CROWD_BATCHES: usize = 2;
const DEVICES_PER_GRID: usize = 10;
const PASSWORD: &str = "bench-password-1";

// Targets.
const PUSH_RATIO_TARGET: f64 = 0.25;
const PULL_RATE_TARGET: f64 = 50_000.0;
const P95_TARGET_MS: f64 = 1000.0;

/// How big each workload is.
#[derive(Clone, Copy)]
struct Scale {
    push_rows: usize,
    pull_records: usize,
    grids: usize,
}

impl Scale {
    fn from_env() -> (Scale, bool) {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let div = if quick { 10 } else { 1 };
        (
            Scale {
                push_rows: 5_000 / div,
                pull_records: 50_000 / div,
                grids: 20 / div,
            },
            quick,
        )
    }

    fn devices(&self) -> usize {
        self.grids * DEVICES_PER_GRID
    }
}

fn main() {
    match std::env::var(CHILD_VAR) {
        Ok(backend) => child(&backend),
        Err(_) => parent(),
    }
}

// ---------------------------------------------------------------------------------------
// Parent: machine facts, then one child process per backend.

fn parent() {
    let (scale, quick) = Scale::from_env();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or_else(
            || "?".into(),
            |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        );
    let pg = bench_admin_url();
    println!();
    println!("fangzha sync benchmark  {}", today());
    println!(
        "machine: nproc {cpus}, {model}, {mem_gib} RAM, load average at start {load}; {} build",
        if cfg!(debug_assertions) {
            "DEBUG (numbers not meaningful)"
        } else {
            "optimised"
        }
    );
    println!(
        "server: actix-web on 127.0.0.1 ({cpus} workers), db_pool_size {DB_POOL_SIZE}; client: reqwest in the same machine"
    );
    println!(
        "workload: {}push {} rows, pull {} records, {} devices{}",
        if quick {
            "BENCH_QUICK=1 (10× smaller): "
        } else {
            ""
        },
        thousands(scale.push_rows as f64),
        thousands(scale.pull_records as f64),
        scale.devices(),
        if pg.is_none() {
            "; PostgreSQL skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)"
        } else {
            ""
        }
    );
    let mut backends = vec!["sqlite"];
    if pg.is_some() {
        backends.push("postgres");
    }
    // BENCH_BACKENDS=postgres (or sqlite) runs only those of the above.
    if let Ok(only) = std::env::var("BENCH_BACKENDS") {
        backends.retain(|b| only.split(',').any(|o| o.trim() == *b));
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            println!("cannot find the benchmark binary: {e}");
            return;
        }
    };
    // BENCH_SERVER_LOG=1 shows the server's warnings and errors (stderr) as they happen;
    // otherwise stderr is kept and shown only when a backend's run fails.
    let server_log = std::env::var_os("BENCH_SERVER_LOG").is_some();
    for backend in backends {
        let out = std::process::Command::new(&exe)
            .env(CHILD_VAR, backend)
            .stdout(std::process::Stdio::inherit())
            .stderr(if server_log {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::piped()
            })
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let tail: Vec<&str> = err.lines().rev().take(15).collect();
                println!("\n{backend}: benchmark did not complete ({})", o.status);
                for l in tail.into_iter().rev() {
                    println!("  | {l}");
                }
            }
            Err(e) => println!("\n{backend}: could not start the benchmark process: {e}"),
        }
    }
    println!();
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = db::now_ms().div_euclid(86_400_000);
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

// ---------------------------------------------------------------------------------------
// Child: one backend.

fn child(backend: &str) {
    fangzha::telemetry::init(fangzha::config::LogFormat::Plain, "warn");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(run_backend(backend));
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    };
    // The server's worker threads never stop on their own; leave without waiting for them.
    std::process::exit(code);
}

/// A fresh database of the backend under test (PostgreSQL from this bench's admin URL).
fn fresh_db(backend: &str, dir: &Path, label: &str) -> anyhow::Result<TestDb> {
    if backend == "sqlite" {
        return Ok(TestDb::sqlite(dir, label));
    }
    let admin = bench_admin_url().context("no PostgreSQL URL")?;
    TestDb::postgres(&admin, &format!("bench_{label}")).map_err(anyhow::Error::msg)
}

/// Creates a grid worker (password [`PASSWORD`]) for each (username, grid), four at a time
/// (argon2 hashing is slow on purpose).
async fn create_grid_workers(pool: &Pool, users: &[(String, String)]) -> anyhow::Result<()> {
    for chunk in users.chunks(4) {
        let jobs = chunk.iter().map(|(name, grid)| {
            accounts::create(
                pool,
                NewUser {
                    username: name.clone(),
                    password: PASSWORD.into(),
                    name: None,
                    role: "grid_worker".into(),
                    areas: vec![grid.clone()],
                },
                None,
            )
        });
        for r in futures_util::future::join_all(jobs).await {
            r.map_err(err)?;
        }
    }
    Ok(())
}

/// The server under test and what the benchmark needs to drive it.
struct Bench {
    base: String,
    client: reqwest::Client,
    pool: Pool,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The access token of a fresh login.
    async fn login(&self, username: &str) -> anyhow::Result<String> {
        Ok(self.login_pair(username).await?.0)
    }

    /// (access token, refresh token) of a fresh login.
    async fn login_pair(&self, username: &str) -> anyhow::Result<(String, String)> {
        let resp = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD, "device_name": "bench"}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("login of {username}: {}", resp.status());
        }
        let body: Value = resp.json().await?;
        token_pair(&body).with_context(|| format!("login of {username}: no token pair"))
    }
}

/// (access token, refresh token) of a login or refresh answer.
fn token_pair(body: &Value) -> Option<(String, String)> {
    let token = |name: &str| body[name].as_str().map(str::to_owned);
    Some((token("access_token")?, token("refresh_token")?))
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn run_backend(backend: &str) -> anyhow::Result<()> {
    if std::env::var("BENCH_ONLY").is_ok_and(|o| o.trim() == "soak") {
        return soak::run(backend).await;
    }
    let (scale, _) = Scale::from_env();
    let dir = tempfile::tempdir()?;
    let main_db = fresh_db(backend, dir.path(), "main")?;
    let base_db = fresh_db(backend, dir.path(), "baseline")?;

    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Some(main_db.url.clone()),
        data_dir: dir.path().join("data"),
        db_pool_size: DB_POOL_SIZE,
        // Hundreds of simulated phones log in and push from one address as fast as they can:
        // this measures the server, not its rate limits.
        login: LoginLimits {
            max_attempts_per_user: 0,
            max_attempts_per_ip: 0,
            ..LoginLimits::default()
        },
        push_limits: PushLimits {
            device_burst: 0,
            user_burst: 0,
            ..PushLimits::default()
        },
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .context("starting the server")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let pool = db::connect(&main_db.url, 2)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        // Below actix's 5 s keep-alive, so a pooled connection is never one the server is
        // closing at that moment (that race shows as "connection reset by peer").
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(120))
        .build()?;
    let bench = Bench { base, client, pool };
    let version = backend_version(&bench.pool)
        .await
        .unwrap_or_else(|_| "?".into());

    // BENCH_ONLY=push,pull,devices (any subset) runs only those parts.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let selected = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);

    // Areas: a township, a village, a grid per benchmark and the crowd's grids.
    let crowd_grids: Vec<String> = (1..=scale.grids)
        .map(|i| format!("bench-crowd-{i:02}"))
        .collect();
    {
        let crowd = crowd_grids.clone();
        db::run_tx(&bench.pool, move |conn| {
            create_tree(conn)?;
            for (i, g) in crowd.iter().enumerate() {
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

    // Users: one for push, one for pull, DEVICES_PER_GRID per crowd grid.
    let mut users: Vec<(String, String)> = vec![
        ("push-worker".into(), PUSH_GRID.into()),
        ("pull-worker".into(), PULL_GRID.into()),
    ];
    for g in crowd_grids.iter().filter(|_| selected("devices")) {
        for d in 0..DEVICES_PER_GRID {
            users.push((format!("{g}-w{d}"), g.clone()));
        }
    }
    let setup_started = Instant::now();
    create_grid_workers(&bench.pool, &users).await?;
    let users_secs = setup_started.elapsed().as_secs_f64();

    let push = if selected("push") {
        Some(bench_push(&bench, &base_db, scale.push_rows).await?)
    } else {
        None
    };
    drop(base_db);
    let pull = if selected("pull") {
        Some(bench_pull(&bench, scale.pull_records).await?)
    } else {
        None
    };
    let crowd = if selected("devices") {
        Some(bench_crowd(&bench, &crowd_grids).await?)
    } else {
        None
    };

    let report = Report {
        backend,
        version: &version,
        scale,
        users: users.len(),
        users_secs,
    };
    report.print(push.as_ref(), pull.as_ref(), crowd.as_ref());
    drop(main_db);
    Ok(())
}

async fn backend_version(pool: &Pool) -> anyhow::Result<String> {
    db::run(pool, |conn| {
        use diesel::dsl::sql;
        use diesel::sql_types::Text;
        let v: String = match conn {
            DbConn::Sqlite(c) => diesel::select(sql::<Text>("sqlite_version()")).get_result(c)?,
            DbConn::Pg(c) => {
                diesel::select(sql::<Text>("current_setting('server_version')")).get_result(c)?
            }
        };
        Ok(v)
    })
    .await
    .map_err(err)
}

const TOWNSHIP: &str = "bench-town";
const VILLAGE: &str = "bench-village";
const PUSH_GRID: &str = "bench-push";
const PULL_GRID: &str = "bench-pull";

fn area(id: &str, name: &str, level: &str, parent: Option<&str>) -> NewArea {
    NewArea {
        id: Some(id.into()),
        name: name.into(),
        level: level.into(),
        parent_id: parent.map(str::to_owned),
        boundary: None,
        qr_link: None,
        wechat_group: None,
    }
}

fn create_tree(conn: &mut DbConn) -> fangzha::error::ApiResult<()> {
    areas::create(conn, area(TOWNSHIP, "清溪镇", "township", None), None)?;
    areas::create(
        conn,
        area(VILLAGE, "东山村", "village", Some(TOWNSHIP)),
        None,
    )?;
    areas::create(
        conn,
        area(PUSH_GRID, "第一网格", "grid", Some(VILLAGE)),
        None,
    )?;
    areas::create(
        conn,
        area(PULL_GRID, "第二网格", "grid", Some(VILLAGE)),
        None,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Realistic household fields.

const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
const GIVEN: &[&str] = &[
    "伟", "芳", "秀英", "敏", "静", "强", "磊", "军", "桂英", "建华",
];
const STREETS: &[&str] = &["幸福路", "东山大道", "新街", "南塘巷", "学府路", "桥头街"];
const KINDS: &[&str] = &["registered", "registered", "resident", "rental", "vacant"];
const NOTES: &[&str] = &[
    "户主在外务工，家中老人已讲解反诈知识",
    "已加入网格反诈群，手机已安装国家反诈中心APP",
    "家中无人，留下宣传单",
    "租户三人，已登记身份信息，提醒勿出借银行卡",
    "老人独居，子女在外地，建议回访",
];

fn household_fields(rng: &mut StdRng) -> Map<String, Value> {
    let fields = json!({
        "address": format!(
            "东山村{}组{}{}号{}",
            rng.random_range(1..=8),
            STREETS[rng.random_range(0..STREETS.len())],
            rng.random_range(1..400),
            if rng.random_bool(0.3) { format!("（{}{}家）", SURNAMES[rng.random_range(0..SURNAMES.len())], GIVEN[rng.random_range(0..GIVEN.len())]) } else { String::new() }
        ),
        "kind": KINDS[rng.random_range(0..KINDS.len())],
        "notes": NOTES[rng.random_range(0..NOTES.len())],
        "lat": 27.9 + rng.random_range(0.0..0.1),
        "lng": 110.6 + rng.random_range(0.0..0.1),
    });
    match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One phone: its client id, token and mutation counter, stamping HLCs as SYNC.md says.
struct Device {
    client_id: String,
    token: String,
    mid: i64,
    ms: u64,
    counter: u32,
}

impl Device {
    fn new(token: String) -> Device {
        Device {
            client_id: uuid::Uuid::now_v7().to_string(),
            token,
            mid: 0,
            // A little in the past: the batch never runs ahead of the server clock.
            ms: db::now_ms() as u64 - 120_000,
            counter: 0,
        }
    }

    fn hlc(&mut self) -> String {
        self.counter += 1;
        if self.counter > 99 {
            self.ms += 1;
            self.counter = 0;
        }
        format!("{:015}-{:05}-{}", self.ms, self.counter, self.client_id)
    }

    /// A put of a new household; also returns (id, fields, hlc) for the baseline.
    fn put_household(
        &mut self,
        scope: &str,
        rng: &mut StdRng,
    ) -> (Value, (String, Map<String, Value>, String)) {
        self.mid += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let hlc = self.hlc();
        let fields = household_fields(rng);
        let m = json!({"mid": self.mid, "hlc": hlc, "entity": "household", "id": id,
                       "scope": scope, "op": "put", "fields": fields});
        (m, (id, fields, hlc))
    }

    fn push_body(&self, mutations: Vec<Value>) -> Value {
        json!({"client_id": self.client_id, "schema": 1, "mutations": mutations})
    }
}

#[derive(Deserialize)]
struct PushReply {
    results: Vec<PushResult>,
}

#[derive(Deserialize)]
struct PushResult {
    status: String,
}

/// A pull page, read without building the changes (the client only counts them).
#[derive(Deserialize)]
struct PullPage {
    changes: Vec<serde::de::IgnoredAny>,
    cursors: BTreeMap<String, i64>,
    has_more: bool,
}

// ---------------------------------------------------------------------------------------
// 1. Push versus a straight insert.

struct PushResultSet {
    /// (household records, other records the server wrote, history rows) in the grid,
    /// including the warm-up push.
    written: (i64, i64, i64),
    rows: usize,
    batches: usize,
    secs: f64,
    applied: usize,
    batch_ms: Vec<f64>,
    base_secs: f64,
}

async fn bench_push(bench: &Bench, base_db: &TestDb, rows: usize) -> anyhow::Result<PushResultSet> {
    let mut dev = Device::new(bench.login("push-worker").await?);
    let mut rng = StdRng::seed_from_u64(1);
    let mut bodies = Vec::new();
    let mut plain = Vec::with_capacity(rows);
    for start in (0..rows).step_by(PUSH_BATCH) {
        let n = PUSH_BATCH.min(rows - start);
        let mut muts = Vec::with_capacity(n);
        for _ in 0..n {
            let (m, p) = dev.put_household(PUSH_GRID, &mut rng);
            muts.push(m);
            plain.push(p);
        }
        bodies.push(dev.push_body(muts));
    }

    // Warm-up (not measured): one tiny push from another device of the same user, so
    // connection set-up and first-query costs are not charged to the measurement.
    let mut warm = Device::new(dev.token.clone());
    let (m, _) = warm.put_household(PUSH_GRID, &mut StdRng::seed_from_u64(99));
    let _ = bench
        .client
        .post(bench.url("/api/sync/push"))
        .bearer_auth(&warm.token)
        .json(&warm.push_body(vec![m]))
        .send()
        .await?
        .bytes()
        .await?;

    let mut applied = 0;
    let mut batch_ms = Vec::new();
    let started = Instant::now();
    for body in &bodies {
        let t = Instant::now();
        let resp = bench
            .client
            .post(bench.url("/api/sync/push"))
            .bearer_auth(&dev.token)
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "push answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let reply: PushReply = serde_json::from_slice(&bytes)?;
        applied += reply
            .results
            .iter()
            .filter(|r| r.status == "applied")
            .count();
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let secs = started.elapsed().as_secs_f64();

    let base_secs = baseline_insert(base_db, &plain).await?;
    let written = db::run(&bench.pool, |conn| {
        use fangzha::db::schema::record_history;
        let all: i64 = records::table
            .filter(records::scope.eq(PUSH_GRID))
            .count()
            .get_result(conn)?;
        let households: i64 = records::table
            .filter(records::scope.eq(PUSH_GRID))
            .filter(records::entity.eq("household"))
            .count()
            .get_result(conn)?;
        let history: i64 = record_history::table
            .filter(record_history::scope.eq(PUSH_GRID))
            .count()
            .get_result(conn)?;
        Ok((households, all - households, history))
    })
    .await
    .map_err(err)?;
    Ok(PushResultSet {
        written,
        rows,
        batches: bodies.len(),
        secs,
        applied,
        batch_ms,
        base_secs,
    })
}

/// The same rows straight into `records` of a separate, migrated database: one prepared
/// INSERT executed per row inside one transaction. Returns the seconds the transaction took.
async fn baseline_insert(
    base_db: &TestDb,
    plain: &[(String, Map<String, Value>, String)],
) -> anyhow::Result<f64> {
    let pool = db::connect(&base_db.url, 1)?;
    {
        let mut conn = pool.get()?;
        db::migrate(&mut conn)?;
        db::write_tx(&mut conn, create_tree).map_err(err)?;
    }
    let rows = record_rows(PUSH_GRID, 1, plain);
    let secs = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let mut conn = pool.get()?;
        let started = Instant::now();
        db::write_tx(&mut conn, |conn| -> QueryResult<()> {
            for row in &rows {
                // The inner connection: diesel caches the prepared INSERT and reuses it.
                match conn {
                    DbConn::Sqlite(c) => {
                        diesel::insert_into(records::table).values(row).execute(c)?
                    }
                    DbConn::Pg(c) => diesel::insert_into(records::table).values(row).execute(c)?,
                };
            }
            Ok(())
        })?;
        let secs = started.elapsed().as_secs_f64();
        let n: i64 = records::table.count().get_result(&mut *conn)?;
        if n as usize != rows.len() {
            bail!("baseline inserted {n} rows, expected {}", rows.len());
        }
        Ok(secs)
    })
    .await??;
    Ok(secs)
}

/// `records` rows for new households, as the sync engine stores them: the fields and each
/// field's HLC as JSON objects (keys sorted), the HLC as version, consecutive seqs.
fn record_rows(
    scope: &str,
    first_seq: i64,
    plain: &[(String, Map<String, Value>, String)],
) -> Vec<RecordRow> {
    let now = db::now_ms();
    plain
        .iter()
        .enumerate()
        .map(|(i, (id, fields, hlc))| {
            let fields: BTreeMap<&String, &Value> = fields.iter().collect();
            let hlcs: BTreeMap<&String, &String> = fields.keys().map(|k| (*k, hlc)).collect();
            RecordRow {
                id: id.clone(),
                entity: "household".into(),
                scope: scope.into(),
                seq: first_seq + i as i64,
                fields: serde_json::to_string(&fields).unwrap_or_default(),
                hlcs: serde_json::to_string(&hlcs).unwrap_or_default(),
                delete_hlc: None,
                restore_hlc: None,
                deleted: false,
                version: hlc.clone(),
                // Households belong to no other record.
                parent_id: None,
                created_at_ms: now,
                updated_at_ms: now,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 2. Initial pull.

struct PullResultSet {
    records: usize,
    seed_secs: f64,
    /// The measured download.
    full: PullRun,
    /// PostgreSQL only: the same download before the table had statistics.
    cold: Option<PullRun>,
    /// Latencies of pulls that find nothing new.
    idle_ms: Vec<f64>,
}

async fn bench_pull(bench: &Bench, records: usize) -> anyhow::Result<PullResultSet> {
    // Seed the grid (not measured): the rows the sync engine stores for server-written
    // households (fields and per-field HLCs as JSON, seq 1..N), inserted many per statement,
    // and the grid's sequence set to N. A pull reads only `records` (history is not
    // involved), so this is the state a pull meets after N engine writes.
    let seed_started = Instant::now();
    let mut rng = StdRng::seed_from_u64(2);
    let base_ms = db::now_ms() as u64 - 3_600_000;
    let mut next_seq = 1;
    while next_seq <= records {
        let n = (records + 1 - next_seq).min(10_000);
        let plain: Vec<(String, Map<String, Value>, String)> = (0..n)
            .map(|i| {
                let k = (next_seq + i) as u64;
                (
                    uuid::Uuid::now_v7().to_string(),
                    household_fields(&mut rng),
                    format!("{:015}-{:05}-server", base_ms + k / 1000, k % 1000),
                )
            })
            .collect();
        let rows = record_rows(PULL_GRID, next_seq as i64, &plain);
        next_seq += n;
        let last_seq = next_seq as i64 - 1;
        db::run_tx(&bench.pool, move |conn| {
            use fangzha::db::schema::scope_seqs;
            for chunk in rows.chunks(500) {
                let q = diesel::insert_into(records::table).values(chunk);
                match conn {
                    DbConn::Sqlite(c) => q.execute(c)?,
                    DbConn::Pg(c) => q.execute(c)?,
                };
            }
            diesel::update(scope_seqs::table.find(PULL_GRID))
                .set(scope_seqs::seq.eq(last_seq))
                .execute(conn)?;
            Ok(())
        })
        .await
        .map_err(err)?;
    }
    let seed_secs = seed_started.elapsed().as_secs_f64();

    // PostgreSQL plans from table statistics, which autovacuum gathers within about a
    // minute of a bulk write. Right after seeding there are none, and the page query is then
    // planned as a sort of the whole grid; that cold case is measured once (info), then
    // ANALYZE brings the state a running database is in. SQLite needs no statistics here
    // (and the server never gathers them).
    let is_pg = db::run(&bench.pool, |conn| Ok(matches!(conn, DbConn::Pg(_))))
        .await
        .map_err(err)?;
    let cold = if is_pg {
        let dev = Device::new(bench.login("pull-worker").await?);
        let cold = pull_all(bench, &dev).await?;
        db::run(&bench.pool, |conn| {
            diesel::sql_query("ANALYZE").execute(conn)?;
            Ok(())
        })
        .await
        .map_err(err)?;
        Some(cold)
    } else {
        None
    };

    let dev = Device::new(bench.login("pull-worker").await?);
    // Warm-up (not measured): a request that opens the connection.
    let _ = bench
        .client
        .get(bench.url("/healthz"))
        .send()
        .await?
        .bytes()
        .await?;
    let full = pull_all(bench, &dev).await?;

    // Caught up: the same device asks again with its final cursors (nothing new), as a
    // phone does on every sync. Median of 5.
    let mut idle_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let page = pull_page(bench, &dev, &full.cursors).await?.1;
        if !page.changes.is_empty() {
            bail!("a caught-up pull returned {} changes", page.changes.len());
        }
        idle_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(PullResultSet {
        idle_ms,
        records,
        seed_secs,
        full,
        cold,
    })
}

/// One whole download from cursor 0.
struct PullRun {
    secs: f64,
    pages: usize,
    bytes: usize,
    received: usize,
    page_ms: Vec<f64>,
    cursors: BTreeMap<String, i64>,
}

impl PullRun {
    fn rate(&self) -> f64 {
        self.received as f64 / self.secs
    }
}

async fn pull_page(
    bench: &Bench,
    dev: &Device,
    cursors: &BTreeMap<String, i64>,
) -> anyhow::Result<(usize, PullPage)> {
    let resp = bench
        .client
        .post(bench.url("/api/sync/pull"))
        .bearer_auth(&dev.token)
        .json(&json!({"client_id": dev.client_id, "schema": 1, "cursors": cursors}))
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        bail!("pull answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok((body.len(), serde_json::from_slice(&body)?))
}

async fn pull_all(bench: &Bench, dev: &Device) -> anyhow::Result<PullRun> {
    let mut run = PullRun {
        secs: 0.0,
        pages: 0,
        bytes: 0,
        received: 0,
        page_ms: Vec::new(),
        cursors: BTreeMap::new(),
    };
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let (len, page) = pull_page(bench, dev, &run.cursors).await?;
        run.page_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        run.pages += 1;
        run.bytes += len;
        run.received += page.changes.len();
        run.cursors = page.cursors;
        if !page.has_more {
            break;
        }
        if run.pages > 10_000 {
            bail!("pull does not end");
        }
    }
    run.secs = started.elapsed().as_secs_f64();
    Ok(run)
}

// ---------------------------------------------------------------------------------------
// 3. Many devices at once.

struct CrowdResultSet {
    devices: usize,
    mutations: usize,
    applied: usize,
    login_secs: f64,
    secs: f64,
    push_ms: Vec<f64>,
    pull_ms: Vec<f64>,
    pulled: usize,
    failures: Vec<String>,
    retries: usize,
}

#[derive(Default)]
struct DeviceRun {
    /// Requests sent again after the connection was reset.
    retries: usize,
    push_ms: Vec<f64>,
    pull_ms: Vec<f64>,
    applied: usize,
    pulled: usize,
    failure: Option<String>,
}

async fn bench_crowd(bench: &Bench, grids: &[String]) -> anyhow::Result<CrowdResultSet> {
    // Log every worker in once (argon2: slow on purpose; not measured), a few at a time.
    let login_started = Instant::now();
    let mut workers: Vec<(String, String)> = Vec::new();
    for g in grids {
        for d in 0..DEVICES_PER_GRID {
            workers.push((format!("{g}-w{d}"), g.clone()));
        }
    }
    let mut tokens = Vec::new();
    for chunk in workers.chunks(4) {
        let logins = chunk.iter().map(|(name, _)| bench.login(name));
        for t in futures_util::future::join_all(logins).await {
            tokens.push(t?);
        }
    }
    let login_secs = login_started.elapsed().as_secs_f64();

    // Build every device's batches before the start.
    let mut plans = Vec::new();
    for (i, ((_, grid), token)) in workers.iter().zip(tokens).enumerate() {
        let mut dev = Device::new(token);
        let mut rng = StdRng::seed_from_u64(1000 + i as u64);
        let bodies: Vec<Value> = (0..CROWD_BATCHES)
            .map(|_| {
                let muts = (0..CROWD_BATCH)
                    .map(|_| dev.put_household(grid, &mut rng).0)
                    .collect();
                dev.push_body(muts)
            })
            .collect();
        plans.push((dev, bodies));
    }

    let devices = plans.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(devices + 1));
    let mut handles = Vec::new();
    for (dev, bodies) in plans {
        let client = bench.client.clone();
        let push_url = bench.url("/api/sync/push");
        let pull_url = bench.url("/api/sync/pull");
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut run = DeviceRun::default();
            if let Err(e) =
                device_session(&client, &push_url, &pull_url, &dev, &bodies, &mut run).await
            {
                run.failure = Some(format!("{e:#}"));
            }
            run
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut out = CrowdResultSet {
        devices,
        mutations: devices * CROWD_BATCHES * CROWD_BATCH,
        applied: 0,
        login_secs,
        secs: 0.0,
        push_ms: Vec::new(),
        pull_ms: Vec::new(),
        pulled: 0,
        failures: Vec::new(),
        retries: 0,
    };
    for h in handles {
        let run = h.await?;
        out.push_ms.extend(run.push_ms);
        out.pull_ms.extend(run.pull_ms);
        out.applied += run.applied;
        out.pulled += run.pulled;
        out.failures.extend(run.failure);
        out.retries += run.retries;
    }
    out.secs = started.elapsed().as_secs_f64();
    Ok(out)
}

/// POSTs JSON; a request that fails at the connection level (the server reset it) is
/// sent once more, as a phone's sync would (push is keyed by mid, so a repeat is harmless).
async fn post_retrying(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
    run: &mut DeviceRun,
) -> anyhow::Result<(reqwest::StatusCode, Vec<u8>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = client.post(url).bearer_auth(token).json(body).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if attempt == 1 && !e.is_timeout() => {
                run.retries += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let status = resp.status();
        match resp.bytes().await {
            Ok(b) => return Ok((status, b.to_vec())),
            Err(e) if attempt == 1 && !e.is_timeout() => run.retries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

async fn device_session(
    client: &reqwest::Client,
    push_url: &str,
    pull_url: &str,
    dev: &Device,
    bodies: &[Value],
    run: &mut DeviceRun,
) -> anyhow::Result<()> {
    for body in bodies {
        let t = Instant::now();
        let (status, bytes) = post_retrying(client, push_url, &dev.token, body, run).await?;
        run.push_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("push {status}: {}", String::from_utf8_lossy(&bytes));
        }
        let reply: PushReply = serde_json::from_slice(&bytes)?;
        // A retried batch that had been applied comes back as duplicates: done either way.
        run.applied += reply
            .results
            .iter()
            .filter(|r| r.status == "applied" || r.status == "duplicate")
            .count();
    }
    let mut cursors: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let t = Instant::now();
        let body = json!({"client_id": dev.client_id, "schema": 1, "cursors": cursors});
        let (status, bytes) = post_retrying(client, pull_url, &dev.token, &body, run).await?;
        run.pull_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            bail!("pull {status}: {}", String::from_utf8_lossy(&bytes));
        }
        let page: PullPage = serde_json::from_slice(&bytes)?;
        run.pulled += page.changes.len();
        cursors = page.cursors;
        if !page.has_more {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Report.

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

struct Report<'a> {
    backend: &'a str,
    version: &'a str,
    scale: Scale,
    users: usize,
    users_secs: f64,
}

type Row = [String; 6];

fn row(cells: [&str; 6]) -> Row {
    cells.map(str::to_owned)
}

fn pctl(s: &[f64]) -> String {
    format!(
        "{:.0}/{:.0}/{:.0} ms",
        percentile(s, 0.50),
        percentile(s, 0.95),
        percentile(s, 0.99)
    )
}

impl Report<'_> {
    fn print(
        &self,
        push: Option<&PushResultSet>,
        pull: Option<&PullResultSet>,
        crowd: Option<&CrowdResultSet>,
    ) {
        let name = if self.backend == "sqlite" {
            format!(
                "SQLite {} (temp file, WAL, synchronous=NORMAL)",
                self.version
            )
        } else {
            format!(
                "PostgreSQL {} (fresh database, dropped after)",
                self.version
            )
        };
        println!();
        println!("== {name}; db_pool_size {DB_POOL_SIZE} ==");
        let mut rows: Vec<Row> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        if let Some(push) = push {
            push_rows(push, &mut rows, &mut notes);
        }
        if let Some(pull) = pull {
            pull_rows(pull, &mut rows, &mut notes);
        }
        if let Some(crowd) = crowd {
            crowd_rows(crowd, self.scale, &mut rows, &mut notes);
        }
        print_table(&rows);
        for n in notes {
            println!("  {n}");
        }
        let mut setup = format!(
            "setup (not measured): {} accounts {:.1} s",
            self.users, self.users_secs
        );
        if let Some(c) = crowd {
            setup += &format!(", {} logins {:.1} s", c.devices, c.login_secs);
        }
        if let Some(p) = pull {
            setup += &format!(
                ", seeding {} records {:.1} s",
                thousands(p.records as f64),
                p.seed_secs
            );
        }
        println!("  {setup}");
    }
}

fn push_rows(push: &PushResultSet, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let push_rate = push.rows as f64 / push.secs;
    let base_rate = push.rows as f64 / push.base_secs;
    let ratio = push_rate / base_rate;
    rows.push([
        format!(
            "push {} households ({}×{PUSH_BATCH}), HTTP",
            thousands(push.rows as f64),
            push.batches
        ),
        format!("{} rows/s", thousands(push_rate)),
        format!("{} rows/s", thousands(base_rate)),
        format!("{:.1} %", ratio * 100.0),
        format!("≥ {:.0} % of baseline", PUSH_RATIO_TARGET * 100.0),
        verdict(ratio >= PUSH_RATIO_TARGET && push.applied == push.rows).into(),
    ]);
    let bs = sorted(&push.batch_ms);
    notes.push(format!(
        "push: {:.2} s, {} of {} applied; batch of {PUSH_BATCH} min/median/max {:.0}/{:.0}/{:.0} ms; baseline: the same rows inserted in {:.3} s",
        push.secs,
        thousands(push.applied as f64),
        thousands(push.rows as f64),
        bs.first().copied().unwrap_or(f64::NAN),
        percentile(&bs, 0.5),
        bs.last().copied().unwrap_or(f64::NAN),
        push.base_secs
    ));
    notes.push(format!(
        "      the server wrote {} household records, {} other records (server-written flags) and {} history rows (warm-up push included)",
        thousands(push.written.0 as f64),
        thousands(push.written.1 as f64),
        thousands(push.written.2 as f64),
    ));
}

fn pull_rows(pull: &PullResultSet, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let full = &pull.full;
    rows.push([
        format!(
            "initial pull {} records, HTTP",
            thousands(pull.records as f64)
        ),
        format!("{} rec/s", thousands(full.rate())),
        "—".into(),
        "—".into(),
        format!("≥ {} rec/s", thousands(PULL_RATE_TARGET)),
        verdict(full.rate() >= PULL_RATE_TARGET && full.received == pull.records).into(),
    ]);
    if let Some(cold) = &pull.cold {
        rows.push(row([
            "  same, before ANALYZE (no statistics)",
            &format!("{} rec/s", thousands(cold.rate())),
            "—",
            "—",
            "(info)",
            "—",
        ]));
    }
    rows.push(row([
        &format!(
            "caught-up pull, {} records in grid",
            thousands(pull.records as f64)
        ),
        &format!("{:.0} ms", percentile(&sorted(&pull.idle_ms), 0.5)),
        "—",
        "—",
        "(info)",
        "—",
    ]));
    let ps = sorted(&full.page_ms);
    notes.push(format!(
        "pull: {:.2} s, {} pages (default limit), {:.1} MB ({} bytes/record), {} records received; page median {:.0} ms, last page (with the grid's checksum) {:.0} ms",
        full.secs,
        full.pages,
        full.bytes as f64 / 1e6,
        full.bytes / full.received.max(1),
        thousands(full.received as f64),
        percentile(&ps, 0.5),
        full.page_ms.last().copied().unwrap_or(f64::NAN),
    ));
    if let Some(cold) = &pull.cold {
        notes.push(format!(
            "      before ANALYZE: {:.2} s, page median {:.0} ms",
            cold.secs,
            percentile(&sorted(&cold.page_ms), 0.5)
        ));
    }
}

fn crowd_rows(crowd: &CrowdResultSet, scale: Scale, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let push_sorted = sorted(&crowd.push_ms);
    let pull_sorted = sorted(&crowd.pull_ms);
    let ok = crowd.failures.is_empty();
    rows.push([
        format!("{} devices: push p50/p95/p99", crowd.devices),
        pctl(&push_sorted),
        "—".into(),
        "—".into(),
        format!("p95 < {P95_TARGET_MS:.0} ms"),
        verdict(percentile(&push_sorted, 0.95) < P95_TARGET_MS && ok).into(),
    ]);
    rows.push([
        format!("{} devices: pull p50/p95/p99", crowd.devices),
        pctl(&pull_sorted),
        "—".into(),
        "—".into(),
        format!("p95 < {P95_TARGET_MS:.0} ms"),
        verdict(percentile(&pull_sorted, 0.95) < P95_TARGET_MS && ok).into(),
    ]);
    rows.push(row([
        &format!("{} devices: throughput", crowd.devices),
        &format!("{} mut/s", thousands(crowd.applied as f64 / crowd.secs)),
        "—",
        "—",
        "(info)",
        "—",
    ]));
    notes.push(format!(
        "devices: {} grids × {DEVICES_PER_GRID} workers, one device each, all started together: {CROWD_BATCHES} pushes of {CROWD_BATCH}, then a pull from 0",
        scale.grids,
    ));
    notes.push(format!(
        "      {} of {} mutations done, {} records pulled (flags included) in {} pull requests, wall {:.2} s; {} requests resent after a connection reset; {} devices failed",
        thousands(crowd.applied as f64),
        thousands(crowd.mutations as f64),
        thousands(crowd.pulled as f64),
        crowd.pull_ms.len(),
        crowd.secs,
        crowd.retries,
        crowd.failures.len(),
    ));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for f in &crowd.failures {
        // Same message, same kind: "push 500 …", "pull … connection reset …".
        let key: String = f.chars().take(160).collect();
        *kinds.entry(key).or_default() += 1;
    }
    for (k, n) in kinds.iter().take(4) {
        notes.push(format!("      failed: {n} × {k}"));
    }
}

fn print_table(rows: &[Row]) {
    let header = [
        "measure", "measured", "baseline", "ratio", "target", "result",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
            if i == 0 || i == 5 {
                s.push_str(c);
                s.push_str(&pad);
            } else {
                s.push_str(&pad);
                s.push_str(c);
            }
            s.push_str("  ");
        }
        println!("{}", s.trim_end());
    };
    line(&header);
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rules.iter().map(String::as_str).collect::<Vec<_>>());
    for r in rows {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
