//! Crash safety (docs/RELIABILITY.md): a phone pushes batches in a loop over HTTP while the
//! real server process (`fangzha serve`) is killed with SIGKILL at random moments and started
//! again on the same database. Then: every mutation is applied exactly once (records, one
//! history entry per value, the device's last mid), nothing acknowledged was lost, nothing
//! was rejected, and the database is sound.
//!
//! The backend is the one `TEST_DATABASE_URL` chooses (SQLite without it), like the `api`
//! tests. `CRASH_KILLS` sets the number of kills (default 100); `CRASH_SEED` replays a run's
//! mutations and kill delays (the timing of a run is never exactly the same).

mod client;
mod device;
mod server;
#[path = "../common/test_db.rs"]
mod test_db;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use client::Client;
use device::Device;
use server::{Server, ServerSpec};
use test_db::TestDb;

/// Kills in the CI run, per backend.
const DEFAULT_KILLS: usize = 100;

/// What the killer and the client share.
#[derive(Default)]
pub struct Shared {
    /// A push is on the wire (set by the client around each request).
    pub in_flight: AtomicBool,
    /// The killer is through: the client stops making new mutations and drains its outbox.
    pub done: AtomicBool,
    /// Pushes answered so far.
    pub answered: AtomicUsize,
    /// How long the last answered push took, in ms.
    pub last_push_ms: AtomicU64,
}

/// What the killer did.
#[derive(Debug, Default)]
struct KillStats {
    kills: usize,
    /// Kills while a push was on the wire.
    during_push: usize,
    /// Kills during start-up (before `/healthz` answered).
    during_start: usize,
    /// The slowest start, for the report.
    slowest_start: Duration,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_survive_sigkill_of_the_server() {
    let seed = env_number("CRASH_SEED").unwrap_or_else(rand::random);
    let kills = env_number("CRASH_KILLS").map_or(DEFAULT_KILLS, |n| n as usize);
    // Printed first, so a failure's output always names it.
    println!("crash test: seed {seed} (CRASH_SEED={seed} replays it), {kills} kills");
    let started = Instant::now();

    let data_dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::from_env(data_dir.path(), "crash");
    let spec = Arc::new(ServerSpec::new(data_dir.path(), &db.url));
    let mut rng = StdRng::seed_from_u64(seed);

    // The very first start migrates the fresh database: kill it somewhere in there, so a
    // restart has to finish (or redo) an interrupted migration.
    let mut first = spec.start();
    std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
    first.kill();
    let mut server = spec.start();
    spec.wait_ready(&mut server)
        .unwrap_or_else(|e| panic!("seed {seed}: first restart: {e}"));

    let grid = verify::set_up_grid_worker(&db.url).await;
    let mut client = Client::new(&spec.base_url()).await;
    let mut device = Device::new(&grid, rng.random());

    let shared = Arc::new(Shared::default());
    let killer = {
        let spec = spec.clone();
        let shared = shared.clone();
        let kill_seed = rng.random();
        std::thread::spawn(move || killer(&spec, server, &shared, kills, kill_seed))
    };
    let pushed = client.push_until_done(&mut device, &shared, seed).await;
    let (mut server, stats) = match killer.join().expect("killer thread") {
        Ok(r) => r,
        Err(e) => panic!("seed {seed}: {e}"),
    };
    let pushed = pushed.unwrap_or_else(|e| panic!("seed {seed}: {e}"));

    // One last kill after the run, then the CLI's migrate and the checks on the database
    // as the crash left it, then a clean start that serves the pull.
    server.kill();
    verify::migrate_is_clean(&spec).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    verify::database(&db.url, &device)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let mut server = spec.start();
    spec.wait_ready(&mut server)
        .unwrap_or_else(|e| panic!("seed {seed}: restart after the run: {e}"));
    let pulled = client
        .pull_all(&device)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let tombstones =
        verify::pulled(&device, &pulled).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    drop(server);

    println!(
        "crash test {}: {} kills while pushing ({} with a push on the wire), {} more during \
         start-up (the first one during the initial migration) and one after the run; slowest \
         start {} ms; {} mutations in {} batches ({} records), {} pushes answered, {} failed \
         at the connection, {} answers lost (their batch came back as duplicates); the final \
         pull took {} pages ({} tombstones after the first); {:.1} s, seed {seed}",
        db.backend(),
        stats.kills,
        stats.during_push,
        stats.during_start + 1,
        stats.slowest_start.as_millis(),
        device.last_mid(),
        pushed.batches,
        device.expected.len(),
        pushed.answered,
        pushed.connection_errors,
        pushed.lost_answers,
        pulled.len(),
        tombstones,
        started.elapsed().as_secs_f64(),
    );
}

/// Kills the server `kills` times at random moments (mostly while the client pushes, now and
/// then during start-up) and starts it again each time, checking that it comes back.
/// Returns the server left running. Tells the client when it is through, also on failure.
fn killer(
    spec: &ServerSpec,
    mut server: Server,
    shared: &Shared,
    kills: usize,
    seed: u64,
) -> Result<(Server, KillStats), String> {
    let mut stats = KillStats::default();
    let result = kill_and_restart(spec, &mut server, shared, kills, seed, &mut stats);
    shared.done.store(true, Ordering::SeqCst);
    result.map(|()| (server, stats))
}

fn kill_and_restart(
    spec: &ServerSpec,
    server: &mut Server,
    shared: &Shared,
    kills: usize,
    seed: u64,
    stats: &mut KillStats,
) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..kills {
        // Let the new server answer none or one push first, then kill it at a random point
        // of the next one: from before it is sent to past its answer (up to 1.5 times the
        // last push's time), so kills land before, inside and after the write transaction
        // on any machine.
        let answered = shared.answered.load(Ordering::SeqCst) + rng.random_range(0..=1);
        let waiting = Instant::now();
        while shared.answered.load(Ordering::SeqCst) < answered
            && waiting.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let push_ms = shared.last_push_ms.load(Ordering::SeqCst).max(20);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..push_ms * 3 / 2)));
        if shared.in_flight.load(Ordering::SeqCst) {
            stats.during_push += 1;
        }
        server.kill();
        stats.kills += 1;
        *server = spec.start();
        if rng.random_bool(0.1) {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
            server.kill();
            stats.during_start += 1;
            *server = spec.start();
        }
        let took = spec
            .wait_ready(server)
            .map_err(|e| format!("restart after kill {}: {e}", stats.kills))?;
        stats.slowest_start = stats.slowest_start.max(took);
    }
    Ok(())
}

/// Counts, so the report can say how often the client had to retry.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Push requests sent with a new last batch.
    pub batches: usize,
    /// Pushes answered 200.
    pub answered: usize,
    /// Requests that failed at the connection (server down or killed mid-request).
    pub connection_errors: usize,
    /// Batches whose answer was lost although the server had committed them.
    pub lost_answers: usize,
}
