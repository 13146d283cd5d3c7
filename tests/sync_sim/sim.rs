//! The deterministic simulation: phones editing a shared pool of records offline, syncing
//! over a network that drops, duplicates and replays requests, a server that restarts, and
//! users moved between grids. Every decision comes from the seeded PRNG and the simulated
//! clock, so a seed replays exactly. After a quiet period the phones must agree with the
//! server, and the server with the merge of every mutation it accepted.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use fangzha::auth::AuthUser;
use fangzha::db::records::{self, HistoryRow, RecordRow};
use fangzha::db::schema::{devices, records as records_table, rejected_mutations, scope_seqs};
use fangzha::domain::account::Role;
use fangzha::sync::merge::{Op, RecordState};
use fangzha::sync::pull::{PullRequest, PullResponse};
use fangzha::sync::push::{PushRequest, PushResponse};
use serde_json::{Map, Value, json};

use crate::device::{Device, Mutation};
use crate::rng::Rng;
use crate::support::{self, Server, TestDb};

/// The simulated server clock starts here (2026-05-28), far from the real one on purpose:
/// nothing may depend on the wall clock.
const START_MS: i64 = 1_780_000_000_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// Largest push batch a device sends.
const MAX_BATCH: usize = 20;

const VILLAGE: &str = "v0";
const GRIDS: [&str; 4] = ["g00", "g01", "g10", "g11"];

/// Counts reported for a run, to see that the faults really happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub edits: u64,
    pub pushes: u64,
    pub pulls: u64,
    pub applied: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Applied to a scope the user no longer holds: stamped while it still did.
    pub applied_to_a_former_scope: u64,
    pub ghost_deliveries: u64,
    pub restarts: u64,
    pub reassignments: u64,
    pub reinstalls: u64,
    pub checksum_recoveries: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.edits += o.edits;
        self.pushes += o.pushes;
        self.pulls += o.pulls;
        self.applied += o.applied;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected;
        self.applied_to_a_former_scope += o.applied_to_a_former_scope;
        self.ghost_deliveries += o.ghost_deliveries;
        self.restarts += o.restarts;
        self.reassignments += o.reassignments;
        self.reinstalls += o.reinstalls;
        self.checksum_recoveries += o.checksum_recoveries;
    }
}

/// A span during which a user held an area (the server's assignment history, mirrored).
#[derive(Debug, Clone)]
struct Period {
    area: String,
    from: i64,
    to: Option<i64>,
}

#[derive(Debug)]
struct User {
    id: String,
    role: Role,
    auth: AuthUser,
    periods: Vec<Period>,
}

/// A mutation the server accepted.
#[derive(Debug, Clone)]
struct Accepted {
    client_id: String,
    user_id: String,
    m: Mutation,
}

/// What can happen to one push request on the way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Lost before the server: nothing happens.
    DropRequest,
    /// Held by the network and delivered at some later step.
    Delay,
    /// The server applies it, the device never hears back.
    DropResponse,
    /// Delivered twice in a row; the device hears both answers.
    Duplicate,
}

struct World {
    seed: u64,
    rng: Rng,
    now: i64,
    server: Server,
    users: Vec<User>,
    /// One phone per user, same index.
    devices: Vec<Device>,
    /// Record ids each scope's phones edit, with their entity.
    pools: BTreeMap<String, Vec<(String, &'static str)>>,
    /// The server's last applied mid per client_id, as learnt from every answer.
    last_mid: BTreeMap<String, i64>,
    /// Fate of every mid the server decided: applied or rejected.
    fates: BTreeMap<(String, i64), &'static str>,
    accepted: Vec<Accepted>,
    /// Requests the network holds back: (user index, client id, batch).
    in_flight: Vec<(usize, String, Vec<Mutation>)>,
    /// (device, scope) where the device's copy may legitimately disagree with the server
    /// until a checksum mismatch makes it download the scope again. All come from a mutation
    /// answered `duplicate`, i.e. applied (or rejected) before a pull the device made while
    /// still holding it as pending, so no later change will correct what it laid on top:
    /// - it had been rejected (the answer does not say);
    /// - the device has no server state of the record: a pull from 0 leaves deleted records
    ///   out, so it cannot learn the record is deleted;
    /// - it is a delete or restore: a pulled change does not carry the delete/restore
    ///   registers, so the device cannot merge them exactly (see `contract.rs`).
    phantoms: BTreeSet<(usize, String)>,
    stats: Stats,
    /// `SYNC_SIM_TRACE=1`: print every step, request and answer (for replaying a seed).
    trace: bool,
    /// Run on its own database; dropped last.
    _db: TestDb,
}

/// Runs one seed to the end and checks everything; panics (naming the seed) on failure.
pub fn run(seed: u64, steps: usize) -> Stats {
    let mut world = World::new(seed);
    for step in 0..steps {
        world.step(step);
    }
    world.quiesce();
    world.check();
    world.stats
}

fn expand(area: &str) -> Vec<&'static str> {
    match area {
        VILLAGE => vec![VILLAGE, GRIDS[0], GRIDS[1]],
        "v1" => vec!["v1", GRIDS[2], GRIDS[3]],
        g => GRIDS.iter().copied().filter(|x| *x == g).collect(),
    }
}

impl World {
    fn new(seed: u64) -> World {
        let db = TestDb::fresh("sim");
        let server = Server::start(&db.url, 2);
        let mut rng = Rng::new(seed);
        let mut conn = server.conn();
        support::create_area(&mut conn, "t", "township", None);
        support::create_area(&mut conn, VILLAGE, "village", Some("t"));
        support::create_area(&mut conn, "v1", "village", Some("t"));
        for g in GRIDS {
            let village = if g.starts_with("g0") { VILLAGE } else { "v1" };
            support::create_area(&mut conn, g, "grid", Some(village));
        }
        // Two phones share g00, two share g10, one works g01 alone; a village cadre holds
        // v0 and so its two grids. g11 starts empty and receives moved users.
        let plan = [
            ("w0", Role::GridWorker, "g00"),
            ("w1", Role::GridWorker, "g00"),
            ("w2", Role::GridWorker, "g10"),
            ("w3", Role::GridWorker, "g10"),
            ("w4", Role::GridWorker, "g01"),
            ("c0", Role::Cadre, VILLAGE),
        ];
        // Assignments start a month back so devices days behind still stamp inside them.
        let assigned_at = START_MS - 30 * DAY;
        let mut users = Vec::new();
        let mut devices = Vec::new();
        for (name, role, area) in plan {
            let id = support::create_user(&mut conn, name, role, &[area.to_owned()], assigned_at);
            let auth = support::auth_user(&mut conn, &id);
            let periods = vec![Period {
                area: area.to_owned(),
                from: assigned_at,
                to: None,
            }];
            let scopes = expand(area).into_iter().map(str::to_owned).collect();
            devices.push(Device::new(rng.uuid(), random_skew(&mut rng), scopes));
            users.push(User {
                id,
                role,
                auth,
                periods,
            });
        }
        drop(conn);
        let mut pools = BTreeMap::new();
        for scope in GRIDS.iter().chain([&VILLAGE]) {
            let ids = (0..8)
                .map(|i| (rng.uuid(), if i < 6 { "household" } else { "publicity" }))
                .collect();
            pools.insert(scope.to_string(), ids);
        }
        World {
            seed,
            rng,
            now: START_MS,
            server,
            users,
            devices,
            pools,
            last_mid: BTreeMap::new(),
            fates: BTreeMap::new(),
            accepted: Vec::new(),
            in_flight: Vec::new(),
            phantoms: BTreeSet::new(),
            stats: Stats::default(),
            trace: std::env::var_os("SYNC_SIM_TRACE").is_some(),
            _db: db,
        }
    }

    /// Fails the run, naming the seed so it can be replayed.
    #[track_caller]
    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "seed {} (SYNC_SIM_SEED={} to replay): {what}",
            self.seed, self.seed
        )
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            println!("[{}] {}", self.now, what());
        }
    }

    fn step(&mut self, step: usize) {
        // Time moves by up to 90 s; sometimes not at all, so stamps share milliseconds.
        self.now += if self.rng.chance(0.1) {
            0
        } else {
            self.rng.range(1, 90_000)
        };
        let d = self.rng.index(self.devices.len());
        let action = self.rng.range(0, 999);
        self.log(|| format!("step {step}: device {d}, action {action}"));
        match action {
            0..=449 => {
                for _ in 0..self.rng.range(1, 3) {
                    self.edit(d);
                }
            }
            450..=749 => self.sync(d, true),
            750..=799 => {
                self.pull_until_done(d, true);
            }
            800..=839 => self.ghost_delivery(),
            840..=859 => {
                self.server.restart();
                self.stats.restarts += 1;
            }
            860..=884 => self.reassign(),
            885..=899 => self.devices[d].skew_ms = random_skew(&mut self.rng),
            900..=907 => self.reinstall(d),
            _ => {}
        }
    }

    /// A local change on device `d` to a record of a scope it believes it holds.
    fn edit(&mut self, d: usize) {
        let scopes: Vec<String> = self.devices[d].scopes.iter().cloned().collect();
        if scopes.is_empty() {
            return;
        }
        let scope = self.rng.pick(&scopes).clone();
        let (id, entity) = self.rng.pick(&self.pools[&scope]).clone();
        let local = self.devices[d].local.get(&id);
        let roll = self.rng.range(0, 99);
        let op = match local.map(|r| r.deleted()) {
            Some(false) if roll < 80 => Op::Put(random_fields(&mut self.rng, entity)),
            Some(false) => Op::Delete,
            Some(true) if roll < 50 => Op::Restore,
            Some(true) if roll < 80 => Op::Put(random_fields(&mut self.rng, entity)),
            Some(true) => Op::Delete,
            None if roll < 88 => Op::Put(random_fields(&mut self.rng, entity)),
            None if roll < 95 => Op::Delete,
            None => Op::Restore,
        };
        let m = self.devices[d].edit(self.now, entity, &id, &scope, op);
        self.log(|| format!("  edit {m:?}"));
        self.stats.edits += 1;
    }

    /// Push the outbox in batches, then pull until done; any request may meet a fault.
    fn sync(&mut self, d: usize, faults: bool) {
        for _ in 0..if faults { 4 } else { usize::MAX } {
            if self.devices[d].outbox.is_empty() {
                break;
            }
            let size = if faults {
                self.rng.range(1, MAX_BATCH as i64) as usize
            } else {
                MAX_BATCH
            };
            let batch = self.devices[d].batch(size);
            let sent = &mut self.devices[d].sent;
            sent.push_back(batch.clone());
            if sent.len() > 8 {
                sent.pop_front();
            }
            let fault = if !faults {
                Fault::None
            } else {
                match self.rng.range(0, 99) {
                    0..=6 => Fault::DropRequest,
                    7..=12 => Fault::Delay,
                    13..=20 => Fault::DropResponse,
                    21..=27 => Fault::Duplicate,
                    _ => Fault::None,
                }
            };
            let client = self.devices[d].client_id.clone();
            self.log(|| {
                format!(
                    "  push mids {}..={} fault {fault:?}",
                    batch[0].mid,
                    batch[batch.len() - 1].mid
                )
            });
            match fault {
                Fault::DropRequest => return,
                Fault::Delay => {
                    self.in_flight.push((d, client, batch));
                    return;
                }
                Fault::DropResponse => {
                    self.deliver(d, &client, &batch);
                    return;
                }
                Fault::None => {
                    let resp = self.deliver(d, &client, &batch);
                    self.ack(d, &resp);
                }
                Fault::Duplicate => {
                    let first = self.deliver(d, &client, &batch);
                    let second = self.deliver(d, &client, &batch);
                    if let Some(r) = second.results.iter().find(|r| r.status != "duplicate") {
                        self.fail(format!(
                            "second delivery of a batch gave {} for mid {}",
                            r.status, r.mid
                        ));
                    }
                    self.ack(d, &first);
                    self.ack(d, &second);
                }
            }
        }
        self.pull_until_done(d, faults);
    }

    /// Sends one push for user `u` as `client` and checks the answer against the model:
    /// mids at or below the last applied are `duplicate`, the others `applied` unless the
    /// user neither holds the scope now nor held it at the mutation's HLC time.
    fn deliver(&mut self, u: usize, client: &str, batch: &[Mutation]) -> PushResponse {
        let prior = self.last_mid.get(client).copied().unwrap_or(0);
        if batch.first().is_some_and(|m| m.mid > prior + 1) {
            self.fail(format!(
                "model error: batch from mid {} after {prior}",
                batch[0].mid
            ));
        }
        let req = PushRequest {
            client_id: client.to_owned(),
            schema: 1,
            mutations: batch.iter().map(Mutation::to_json).collect(),
        };
        let resp = match self.server.push(&self.users[u].auth, &req, self.now) {
            Ok(r) => r,
            // mid_gap in particular must never reach a correct client.
            Err(e) => self.fail(format!(
                "push of mids {}..: {} ({e})",
                batch[0].mid,
                e.code()
            )),
        };
        self.stats.pushes += 1;
        self.log(|| {
            format!(
                "  pushed by user {u} as {client}: {:?}",
                resp.results
                    .iter()
                    .map(|r| (r.mid, r.status))
                    .collect::<Vec<_>>()
            )
        });
        if resp.results.len() != batch.len() {
            self.fail(format!(
                "{} results for {} mutations",
                resp.results.len(),
                batch.len()
            ));
        }
        for (m, r) in batch.iter().zip(&resp.results) {
            if r.mid != m.mid {
                self.fail(format!("result for mid {} answers mid {}", m.mid, r.mid));
            }
            let expected = if m.mid <= prior {
                "duplicate"
            } else if self.may_write(u, &m.scope, m.hlc_ms()) {
                "applied"
            } else {
                "rejected"
            };
            if r.status != expected {
                self.fail(format!(
                    "mid {} ({} {} at {}) was {} ({:?}), expected {expected}",
                    m.mid, m.entity, m.scope, m.hlc, r.status, r.error
                ));
            }
            match r.status {
                "duplicate" => self.stats.duplicates += 1,
                "applied" => {
                    self.stats.applied += 1;
                    if !self.held_now(u).contains(&m.scope) {
                        self.stats.applied_to_a_former_scope += 1;
                    }
                    self.fates.insert((client.to_owned(), m.mid), "applied");
                    self.accepted.push(Accepted {
                        client_id: client.to_owned(),
                        user_id: self.users[u].id.clone(),
                        m: m.clone(),
                    });
                }
                _ => {
                    self.stats.rejected += 1;
                    let code = r.error.as_ref().map(|e| e.code);
                    if code != Some("scope_forbidden") {
                        self.fail(format!("mid {} rejected with {code:?}", m.mid));
                    }
                    self.fates.insert((client.to_owned(), m.mid), "rejected");
                }
            }
        }
        let expected_last = prior.max(batch.last().map_or(0, |m| m.mid));
        if resp.last_mid != expected_last {
            self.fail(format!(
                "last_mid {} after a batch to {expected_last}",
                resp.last_mid
            ));
        }
        self.last_mid.insert(client.to_owned(), resp.last_mid);
        resp
    }

    /// The device takes in an answer it received.
    fn ack(&mut self, d: usize, resp: &PushResponse) {
        let client = self.devices[d].client_id.clone();
        for m in self.devices[d].ack(resp, self.now) {
            let rejected = self.fates.get(&(client.clone(), m.mid)) == Some(&"rejected");
            let register = matches!(m.op, Op::Delete | Op::Restore);
            if rejected || register || !self.devices[d].has_server_state(&m.id) {
                self.phantoms.insert((d, m.scope.clone()));
            }
        }
    }

    /// The network delivers an old request again, or one it held back; nobody hears the
    /// answer. When every mid was already applied it must change nothing at all.
    fn ghost_delivery(&mut self) {
        let (u, client, batch) = if !self.in_flight.is_empty() && self.rng.chance(0.5) {
            let i = self.rng.index(self.in_flight.len());
            self.in_flight.remove(i)
        } else {
            let d = self.rng.index(self.devices.len());
            if self.devices[d].sent.is_empty() {
                return;
            }
            let i = self.rng.index(self.devices[d].sent.len());
            (
                d,
                self.devices[d].client_id.clone(),
                self.devices[d].sent[i].clone(),
            )
        };
        self.stats.ghost_deliveries += 1;
        let prior = self.last_mid.get(&client).copied().unwrap_or(0);
        let stale = batch.iter().all(|m| m.mid <= prior);
        let before = stale.then(|| self.server_fingerprint());
        let resp = self.deliver(u, &client, &batch);
        if let Some(before) = before {
            if resp.results.iter().any(|r| r.status != "duplicate") {
                self.fail("a replayed batch was not all duplicate");
            }
            if self.server_fingerprint() != before {
                self.fail("a replayed batch changed the database");
            }
        }
    }

    /// Scope sequences, records and history size: what any write would change.
    fn server_fingerprint(&self) -> (Vec<(String, i64)>, i64, i64) {
        let mut conn = self.server.conn();
        let seqs = scope_seqs::table
            .select((scope_seqs::scope, scope_seqs::seq))
            .order(scope_seqs::scope)
            .load(&mut conn)
            .expect("scope seqs");
        let records: i64 = records_table::table
            .count()
            .get_result(&mut conn)
            .expect("count");
        let history: i64 = fangzha::db::schema::record_history::table
            .count()
            .get_result(&mut conn)
            .expect("count");
        (seqs, records, history)
    }

    /// (id prefix, version) of the live records of a scope, for failure messages.
    fn live_on_server(&self, scope: &str) -> Vec<(String, String)> {
        records_table::table
            .filter(records_table::scope.eq(scope))
            .filter(records_table::deleted.eq(false))
            .select((records_table::id, records_table::version))
            .order(records_table::id)
            .load::<(String, String)>(&mut self.server.conn())
            .expect("live records")
            .into_iter()
            .map(|(id, v)| (id[..8].to_owned(), v))
            .collect()
    }

    /// Pulls until `has_more` is false (or a fault cuts it short); returns whether it ended.
    fn pull_until_done(&mut self, d: usize, faults: bool) -> bool {
        for _ in 0..1000 {
            if faults && self.rng.chance(0.04) {
                return false; // request lost
            }
            let limit = if self.rng.chance(0.2) {
                None
            } else {
                Some(self.rng.range(1, 25) as u64)
            };
            let req = self.devices[d].pull_request(limit);
            let resp = self.pull(d, &req);
            if faults && self.rng.chance(0.04) {
                return false; // answer lost: the device applies nothing
            }
            let diverged = match self.devices[d].apply_page(&req, &resp, self.now) {
                Ok(v) => v,
                Err(e) => self.fail(format!("device {d} pull: {e}")),
            };
            for (scope, copy) in &diverged {
                if !self.phantoms.remove(&(d, scope.clone())) {
                    self.fail(format!(
                        "device {d}: checksum of {scope} differs (local {copy} vs {:?}, server has {:?}) with nothing to explain it",
                        resp.checksums.get(scope),
                        self.live_on_server(scope)
                    ));
                }
                self.stats.checksum_recoveries += 1;
            }
            if !resp.has_more && diverged.is_empty() {
                return true;
            }
        }
        self.fail(format!("device {d}: pull did not finish in 1000 pages"))
    }

    /// One pull, checked against the assignment model.
    fn pull(&mut self, d: usize, req: &PullRequest) -> PullResponse {
        let u = d;
        let resp = match self.server.pull(&self.users[u].auth, req, self.now) {
            Ok(r) => r,
            Err(e) => self.fail(format!("pull: {e}")),
        };
        self.stats.pulls += 1;
        self.log(|| {
            let changes: Vec<_> = resp.changes.iter().map(|c| (c.scope.as_str(), c.seq, &c.id[..8], c.deleted)).collect();
            format!(
                "  pull by {d} cursors {:?} limit {:?}: scopes {:?} removed {:?} changes {changes:?} cursors {:?} more {} sums {:?}",
                req.cursors, req.limit, resp.scopes, resp.removed_scopes, resp.cursors, resp.has_more, resp.checksums
            )
        });
        let held = self.held_now(u);
        if resp.scopes.iter().cloned().collect::<BTreeSet<_>>() != held {
            self.fail(format!(
                "pull scopes {:?}, user holds {held:?}",
                resp.scopes
            ));
        }
        let removed: Vec<String> = req
            .cursors
            .keys()
            .filter(|s| !held.contains(*s))
            .cloned()
            .collect();
        if resp.removed_scopes != removed {
            self.fail(format!(
                "removed_scopes {:?}, expected {removed:?}",
                resp.removed_scopes
            ));
        }
        resp
    }

    fn held_now(&self, u: usize) -> BTreeSet<String> {
        self.users[u]
            .periods
            .iter()
            .filter(|p| p.to.is_none())
            .flat_map(|p| expand(&p.area))
            .map(str::to_owned)
            .collect()
    }

    /// SYNC.md: a mutation may write a scope held now or held at its HLC time.
    fn may_write(&self, u: usize, scope: &str, at_ms: i64) -> bool {
        self.held_now(u).contains(scope)
            || self.users[u].periods.iter().any(|p| {
                p.from <= at_ms
                    && p.to.is_none_or(|t| at_ms < t)
                    && expand(&p.area).contains(&scope)
            })
    }

    /// Moves a grid worker to another grid, effective now.
    fn reassign(&mut self) {
        let workers: Vec<usize> = (0..self.users.len())
            .filter(|&u| self.users[u].role == Role::GridWorker)
            .collect();
        let u = *self.rng.pick(&workers);
        let current = self.held_now(u);
        let others: Vec<&str> = GRIDS
            .iter()
            .copied()
            .filter(|g| !current.contains(*g))
            .collect();
        let to = self.rng.pick(&others).to_string();
        let mut conn = self.server.conn();
        support::reassign(
            &mut conn,
            &self.users[u].id,
            self.users[u].role,
            std::slice::from_ref(&to),
            self.now,
        );
        self.users[u].auth = support::auth_user(&mut conn, &self.users[u].id);
        for p in self.users[u].periods.iter_mut().filter(|p| p.to.is_none()) {
            p.to = Some(self.now);
        }
        self.users[u].periods.push(Period {
            area: to,
            from: self.now,
            to: None,
        });
        self.stats.reassignments += 1;
    }

    /// The app is reinstalled: a new client_id, an empty copy, unsent work lost, and a
    /// clock that may be days behind (so its first stamps are old).
    fn reinstall(&mut self, d: usize) {
        let skew = if self.rng.chance(0.5) {
            -self.rng.range(DAY, 5 * DAY)
        } else {
            random_skew(&mut self.rng)
        };
        let scopes = self.held_now(d);
        self.devices[d] = Device::new(self.rng.uuid(), skew, scopes);
        self.phantoms.retain(|(dev, _)| *dev != d);
        self.stats.reinstalls += 1;
    }

    /// No more faults: held requests arrive, then every phone pushes everything and pulls
    /// to the end, twice so each sees the others' last pushes.
    fn quiesce(&mut self) {
        while !self.in_flight.is_empty() {
            let (u, client, batch) = self.in_flight.remove(0);
            self.deliver(u, &client, &batch);
        }
        for _ in 0..2 {
            for d in 0..self.devices.len() {
                self.sync(d, false);
            }
            for d in 0..self.devices.len() {
                if !self.pull_until_done(d, false) {
                    self.fail("pull without faults did not end");
                }
            }
        }
    }

    /// The end-state assertions.
    fn check(&mut self) {
        for d in 0..self.devices.len() {
            self.check_device(d);
        }
        self.check_server_records();
        self.check_bookkeeping();
    }

    /// (a) the phone's copy equals a fresh pull from 0; (b) checksums agree.
    fn check_device(&mut self, d: usize) {
        if !self.devices[d].outbox.is_empty() {
            self.fail(format!(
                "device {d} still has {} pending after quiescence",
                self.devices[d].outbox.len()
            ));
        }
        let held = self.held_now(d);
        if self.devices[d].scopes != held {
            self.fail(format!(
                "device {d} believes it holds {:?}, user holds {held:?}",
                self.devices[d].scopes
            ));
        }
        let client_id = self.devices[d].client_id.clone();
        let mut cursors = BTreeMap::new();
        let mut fresh = BTreeMap::new();
        let mut sums = BTreeMap::new();
        loop {
            let req = PullRequest {
                client_id: client_id.clone(),
                schema: 1,
                cursors: cursors.clone(),
                limit: Some(1000),
            };
            let resp = self.pull(d, &req);
            for ch in resp.changes {
                if ch.deleted {
                    self.fail(format!("deleted record {} in a pull from 0", ch.id));
                }
                fresh.insert(
                    ch.id.clone(),
                    (
                        ch.entity,
                        ch.scope,
                        ch.fields.unwrap_or_default(),
                        ch.version,
                    ),
                );
            }
            for (s, c) in resp.checksums {
                sums.insert(s, (c.count, c.xor));
            }
            cursors = resp.cursors;
            if !resp.has_more {
                break;
            }
        }
        let dev = &self.devices[d];
        if let Some((id, r)) = dev.local.iter().find(|(_, r)| !held.contains(&r.scope)) {
            self.fail(format!(
                "device {d} keeps record {id} of scope {} it does not hold",
                r.scope
            ));
        }
        let live = dev.live();
        if live != fresh {
            let only_local: Vec<_> = live.keys().filter(|k| !fresh.contains_key(*k)).collect();
            let only_server: Vec<_> = fresh.keys().filter(|k| !live.contains_key(*k)).collect();
            let differ: Vec<_> = live
                .iter()
                .filter(|(k, v)| fresh.get(*k).is_some_and(|f| f != *v))
                .map(|(k, v)| format!("{k}: local {v:?} server {:?}", fresh[k]))
                .collect();
            self.fail(format!(
                "device {d} differs from the server: only local {only_local:?}, only server {only_server:?}, differ {differ:?}"
            ));
        }
        for scope in &held {
            let mine = dev.checksum(scope);
            if sums.get(scope) != Some(&mine) {
                self.fail(format!(
                    "device {d}: fresh checksum of {scope} {:?}, local {mine:?}",
                    sums.get(scope)
                ));
            }
            if dev.checksums.get(scope) != Some(&mine) {
                self.fail(format!(
                    "device {d}: last pulled checksum of {scope} {:?}, local {mine:?}",
                    dev.checksums.get(scope)
                ));
            }
        }
    }

    /// (c) every accepted value is in the history with its HLC, winners and losers are
    /// flagged by arrival order, current values carry the greatest HLC; and each record a
    /// phone wrote is exactly the merge of the mutations accepted for it. Records the server
    /// writes itself (flags) get the history checks only.
    fn check_server_records(&mut self) {
        let mut conn = self.server.conn();
        let rows: Vec<RecordRow> = records_table::table
            .select(RecordRow::as_select())
            .order(records_table::id)
            .load(&mut conn)
            .expect("records");
        let mut by_record: BTreeMap<&str, Vec<&Accepted>> = BTreeMap::new();
        for a in &self.accepted {
            by_record.entry(a.m.id.as_str()).or_default().push(a);
        }
        let stored_ids: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        if let Some(lost) = by_record.keys().find(|id| !stored_ids.contains(*id)) {
            self.fail(format!("record {lost} was written but is not stored"));
        }
        for row in &rows {
            let history = records::history(&mut conn, &row.id).expect("history");
            let stored = self.server.state_of(row);
            match by_record.get(row.id.as_str()) {
                Some(accepted) => self.check_device_record(row, &stored, accepted, &history),
                None => {
                    let by_server = history
                        .iter()
                        .all(|h| h.client_id.as_deref() == Some("server") && h.user_id.is_none());
                    if row.entity != "flag" || !by_server {
                        self.fail(format!(
                            "record {} ({}) stored but never written by a phone nor only by the server",
                            row.id, row.entity
                        ));
                    }
                }
            }
            self.check_history_order(row, &stored, &history);
        }
    }

    /// A phone-written record is the merge of what was accepted for it, and its history is
    /// exactly one entry per accepted value, in arrival order.
    fn check_device_record(
        &self,
        row: &RecordRow,
        stored: &RecordState,
        accepted: &[&Accepted],
        history: &[HistoryRow],
    ) {
        let mut merged = RecordState::default();
        for a in accepted {
            merged.apply(&a.m.op, &a.m.hlc);
        }
        if *stored != merged
            || row.deleted != merged.deleted()
            || Some(row.version.as_str()) != merged.max_hlc()
        {
            self.fail(format!(
                "record {}: stored {stored:?} (deleted {}, version {}), merge of accepted {merged:?}",
                row.id, row.deleted, row.version
            ));
        }
        if row.scope != accepted[0].m.scope || row.entity != accepted[0].m.entity {
            self.fail(format!(
                "record {} moved to {} {}",
                row.id, row.entity, row.scope
            ));
        }
        type Entry = (String, Option<String>, String, String, i64, String);
        let mut expected: Vec<Entry> = Vec::new();
        for a in accepted {
            let values: Vec<(String, Option<String>)> = match &a.m.op {
                Op::Put(fields) => fields
                    .iter()
                    .map(|(k, v)| (k.clone(), (!v.is_null()).then(|| v.to_string())))
                    .collect(),
                Op::Delete => vec![("_delete".into(), None)],
                Op::Restore => vec![("_restore".into(), None)],
            };
            for (field, value) in values {
                let m = &a.m;
                expected.push((
                    field,
                    value,
                    m.hlc.clone(),
                    a.client_id.clone(),
                    m.mid,
                    a.user_id.clone(),
                ));
            }
        }
        let got: Vec<Entry> = history
            .iter()
            .map(|h| {
                (
                    h.field.clone(),
                    h.value.clone(),
                    h.hlc.clone(),
                    h.client_id.clone().unwrap_or_default(),
                    h.mid.unwrap_or(-1),
                    h.user_id.clone().unwrap_or_default(),
                )
            })
            .collect();
        if got != expected {
            self.fail(format!(
                "history of {}:\n got {got:?}\n expected {expected:?}",
                row.id
            ));
        }
    }

    /// In arrival order, a value wins exactly when its HLC is above every earlier one of its
    /// field; the stored value and registers are the newest of the history.
    fn check_history_order(&self, row: &RecordRow, stored: &RecordState, history: &[HistoryRow]) {
        let mut greatest: BTreeMap<&str, &HistoryRow> = BTreeMap::new();
        for h in history {
            let wins = greatest.get(h.field.as_str()).is_none_or(|g| h.hlc > g.hlc);
            if h.won != wins {
                self.fail(format!(
                    "history of {}: {} at {} flagged won={}",
                    row.id, h.field, h.hlc, h.won
                ));
            }
            if wins {
                greatest.insert(&h.field, h);
            }
        }
        for (field, value) in &stored.fields {
            let shown = (!value.is_null()).then(|| value.to_string());
            let newest = greatest.get(field.as_str()).map(|g| (&g.value, &g.hlc));
            if newest != Some((&shown, &stored.hlcs[field])) {
                self.fail(format!(
                    "record {}: {field} is {shown:?} at {:?}, newest history {newest:?}",
                    row.id,
                    stored.hlcs.get(field)
                ));
            }
        }
        for (name, register) in [
            ("_delete", &stored.delete_hlc),
            ("_restore", &stored.restore_hlc),
        ] {
            if greatest.get(name).map(|g| &g.hlc) != register.as_ref() {
                self.fail(format!(
                    "record {}: {name} register {register:?} is not the newest in history",
                    row.id
                ));
            }
        }
    }

    /// Rejected mutations kept, last mids stored, scope sequences consistent.
    fn check_bookkeeping(&mut self) {
        let mut conn = self.server.conn();
        let kept: BTreeSet<(String, i64, String)> = rejected_mutations::table
            .select((
                rejected_mutations::client_id,
                rejected_mutations::mid,
                rejected_mutations::code,
            ))
            .load::<(String, i64, String)>(&mut conn)
            .expect("rejected")
            .into_iter()
            .collect();
        let expected: BTreeSet<(String, i64, String)> = self
            .fates
            .iter()
            .filter(|(_, f)| **f == "rejected")
            .map(|((c, m), _)| (c.clone(), *m, "scope_forbidden".to_owned()))
            .collect();
        if kept != expected {
            self.fail(format!(
                "rejected_mutations {kept:?}, expected {expected:?}"
            ));
        }
        let stored: BTreeMap<String, i64> = devices::table
            .select((devices::client_id, devices::last_mid))
            .load::<(String, i64)>(&mut conn)
            .expect("devices")
            .into_iter()
            .filter(|(_, m)| *m > 0)
            .collect();
        let known: BTreeMap<String, i64> = self
            .last_mid
            .iter()
            .filter(|(_, m)| **m > 0)
            .map(|(c, m)| (c.clone(), *m))
            .collect();
        if stored != known {
            self.fail(format!(
                "devices.last_mid {stored:?}, answers said {known:?}"
            ));
        }
        // Each scope's sequence is at least its greatest record seq, and seqs are unique.
        let seqs: BTreeMap<String, i64> = scope_seqs::table
            .select((scope_seqs::scope, scope_seqs::seq))
            .load::<(String, i64)>(&mut conn)
            .expect("seqs")
            .into_iter()
            .collect();
        let rows: Vec<(String, i64)> = records_table::table
            .select((records_table::scope, records_table::seq))
            .load(&mut conn)
            .expect("record seqs");
        let mut seen = BTreeSet::new();
        for (scope, seq) in rows {
            if seq > seqs[&scope] || !seen.insert((scope.clone(), seq)) {
                self.fail(format!(
                    "record seq {seq} in {scope} (scope seq {})",
                    seqs[&scope]
                ));
            }
        }
    }
}

/// A device clock error: usually within ±5 minutes, sometimes days behind (never more than
/// 10 minutes ahead: the server refuses those, and a correct phone corrects its clock).
fn random_skew(rng: &mut Rng) -> i64 {
    if rng.chance(0.15) {
        -rng.range(DAY, 5 * DAY)
    } else {
        rng.range(-5 * MINUTE, 5 * MINUTE)
    }
}

/// A put of 1–3 random fields of the entity. Values come from small sets so that devices
/// often write the same value, and sometimes clear a field with null. No ID numbers or
/// phones: grid workers receive those masked.
fn random_fields(rng: &mut Rng, entity: &str) -> Map<String, Value> {
    let names: &[&str] = match entity {
        "household" => &[
            "address",
            "notes",
            "kind",
            "leaflet_delivered",
            "lat",
            "head_name",
        ],
        _ => &["kind", "count", "date", "notes"],
    };
    let mut fields = Map::new();
    for _ in 0..rng.range(1, 3) {
        let name = *rng.pick(names);
        let value = match (entity, name) {
            (_, "notes") if rng.chance(0.15) => Value::Null,
            (_, "notes") => json!(rng.pick(&["门口有狗", "老人独居", "已发传单", "租户多", ""])),
            (_, "address") => {
                json!(rng.pick(&["幸福路 1 号", "幸福路 3 号", "东山 12 组", "西街 7 号"]))
            }
            ("household", "kind") => {
                json!(rng.pick(&["registered", "resident", "rental", "vacant"]))
            }
            (_, "kind") => {
                json!(rng.pick(&["banner", "slogan", "broadcast", "meeting", "school_leaflet"]))
            }
            (_, "leaflet_delivered") => json!(rng.chance(0.5)),
            (_, "lat") => json!(rng.pick(&[28.1, 28.25, 28.3125, -0.5])),
            (_, "head_name") => json!(rng.pick(&["王丽", "李强", "张伟"])),
            (_, "count") => json!(rng.range(0, 50)),
            _ => json!(format!("2026-05-{:02}", rng.range(1, 28))),
        };
        fields.insert(name.to_owned(), value);
    }
    fields
}
