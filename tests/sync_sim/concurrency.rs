//! Concurrent writers on one scope, each on its own pooled connection like request handlers,
//! against a reader paging through that scope. Meaningful on PostgreSQL (SQLite serializes
//! writers with `BEGIN IMMEDIATE`), run on whichever database the run targets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::prelude::*;
use fangzha::auth::AuthUser;
use fangzha::db::records::{self, RecordRow};
use fangzha::db::schema::{records as records_table, scope_seqs};
use fangzha::domain::account::Role;
use fangzha::sync::hlc::Clock;
use fangzha::sync::merge::{Op, RecordState};
use fangzha::sync::pull::{self, PullRequest, record_digest};
use fangzha::sync::push::PushRequest;
use serde_json::{Value, json};

use crate::support::{self, Server, TestDb};

const PUSHERS: usize = 8;
const BATCHES: usize = 30;
const PER_BATCH: usize = 5;
const DAY: i64 = 24 * 3_600_000;

/// A grid with `workers` grid workers (plus a reader) on a fresh database.
struct Fixture {
    server: Server,
    grid: String,
    workers: Vec<AuthUser>,
    reader: AuthUser,
    _db: TestDb,
}

fn fixture(workers: usize) -> Fixture {
    let db = TestDb::fresh("sim");
    // One connection per writer and one for the reader, so nobody waits for the pool.
    let server = Server::start(&db.url, workers as u32 + 2);
    let mut conn = server.conn();
    support::create_area(&mut conn, "t", "township", None);
    support::create_area(&mut conn, "v", "village", Some("t"));
    support::create_area(&mut conn, "g", "grid", Some("v"));
    let since = fangzha::db::now_ms() - DAY;
    let grid = vec!["g".to_owned()];
    let workers = (0..workers)
        .map(|k| {
            let id = support::create_user(
                &mut conn,
                &format!("pusher{k}"),
                Role::GridWorker,
                &grid,
                since,
            );
            support::auth_user(&mut conn, &id)
        })
        .collect();
    let id = support::create_user(&mut conn, "reader", Role::GridWorker, &grid, since);
    let reader = support::auth_user(&mut conn, &id);
    drop(conn);
    Fixture {
        server,
        grid: "g".into(),
        workers,
        reader,
        _db: db,
    }
}

/// One worker's pushes, on its own connection: `batches` batches made by `make`, each
/// mutation stamped by the worker's clock. Returns the mutations the server applied.
fn pusher(
    f: &Fixture,
    k: usize,
    batches: usize,
    make: impl Fn(usize) -> Vec<(String, Op)>,
) -> Vec<(String, Op, String)> {
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut clock = Clock::new(&client_id);
    let mut conn = f.server.pool().get().expect("connection");
    let mut mid = 0i64;
    let mut applied = Vec::new();
    for b in 0..batches {
        let mut mutations = Vec::new();
        let mut sent = Vec::new();
        for (id, op) in make(b) {
            mid += 1;
            let hlc = clock.tick(fangzha::db::now_ms() as u64).to_string();
            let mut m =
                json!({"mid": mid, "hlc": hlc, "entity": "household", "id": id, "scope": f.grid});
            match &op {
                Op::Put(fields) => {
                    m["op"] = json!("put");
                    m["fields"] = Value::Object(fields.clone());
                }
                Op::Delete => m["op"] = json!("delete"),
                Op::Restore => m["op"] = json!("restore"),
            }
            mutations.push(m);
            sent.push((id, op, hlc));
        }
        let req = PushRequest {
            client_id: client_id.clone(),
            schema: 1,
            mutations,
        };
        let resp = support::push_on(
            &mut conn,
            f.server.ctx(),
            &f.workers[k],
            &req,
            fangzha::db::now_ms(),
        )
        .unwrap_or_else(|e| panic!("pusher {k} batch {b}: {} ({e})", e.code()));
        for (r, m) in resp.results.iter().zip(sent) {
            assert_eq!(
                r.status, "applied",
                "pusher {k} batch {b} mid {}: {:?}",
                r.mid, r.error
            );
            applied.push(m);
        }
    }
    applied
}

/// What a paging reader saw.
#[derive(Default)]
struct Seen {
    /// Record id → (seq, version) of its latest change received.
    records: BTreeMap<String, (i64, String)>,
    /// Every change received, in order: (seq, entity, id).
    changes: Vec<(i64, String, String)>,
    /// Checksums reported by pages that ended caught up, with the copy's own at that point.
    checksums: Vec<((u64, String), (u64, String))>,
    pages: usize,
}

/// Pulls the scope with small pages while `running`, then to the end.
fn reader(f: &Fixture, running: &AtomicBool, limit: u64) -> Seen {
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut conn = f.server.pool().get().expect("connection");
    let mut cursors = BTreeMap::new();
    let mut seen = Seen::default();
    let mut finishing = false;
    loop {
        let writers_done = !running.load(Ordering::Acquire);
        let req = PullRequest {
            client_id: client_id.clone(),
            schema: 1,
            cursors: cursors.clone(),
            limit: Some(limit),
        };
        let resp = pull::pull(
            &mut conn,
            f.server.ctx(),
            &f.reader,
            &req,
            fangzha::db::now_ms(),
        )
        .expect("pull");
        seen.pages += 1;
        let mut last = seen.changes.last().map_or(0, |c| c.0);
        for ch in &resp.changes {
            assert_eq!(ch.scope, f.grid);
            assert!(
                ch.seq > last,
                "seq {} after {last}: repeated or out of order",
                ch.seq
            );
            last = ch.seq;
            seen.changes
                .push((ch.seq, ch.entity.clone(), ch.id.clone()));
            seen.records
                .insert(ch.id.clone(), (ch.seq, ch.version.clone()));
        }
        if let Some(sum) = resp.checksums.get(&f.grid) {
            let mut xor = 0u64;
            for (id, (_, version)) in &seen.records {
                xor ^= record_digest(id, version);
            }
            let mine = (seen.records.len() as u64, format!("{xor:016x}"));
            seen.checksums.push(((sum.count, sum.xor.clone()), mine));
        }
        cursors = resp.cursors;
        if !resp.has_more && finishing {
            return seen;
        }
        // One more full pass after the writers are done, so nothing committed is missed.
        finishing = writers_done && !resp.has_more;
    }
}

/// `PUSHERS` workers each push `batches` batches of `per_batch` new households while a
/// reader pages through the grid `limit` changes at a time. Returns the ids pushed and what
/// the reader saw.
fn pushers_and_reader(
    f: &Fixture,
    batches: usize,
    per_batch: usize,
    limit: u64,
) -> (Vec<String>, Seen) {
    let running = AtomicBool::new(true);
    std::thread::scope(|s| {
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|k| {
                s.spawn(move || {
                    pusher(f, k, batches, |b| {
                        (0..per_batch)
                            .map(|i| {
                                let fields = json!({"address": format!("{k}-{b}-{i}")});
                                let op = Op::Put(fields.as_object().unwrap().clone());
                                (uuid::Uuid::new_v4().to_string(), op)
                            })
                            .collect()
                    })
                })
            })
            .collect();
        let reader = s.spawn(|| reader(f, &running, limit));
        // Join every pusher before judging any, so the reader is always told to finish
        // (a failed pusher must fail the test, not hang it).
        let results: Vec<_> = pushers.into_iter().map(|p| p.join()).collect();
        running.store(false, Ordering::Release);
        let seen = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        let pushed = results
            .into_iter()
            .flat_map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .map(|(id, _, _)| id)
            .collect();
        (pushed, seen)
    })
}

/// New records only, so every id must reach the reader exactly once and in commit order.
#[test]
fn concurrent_pushers_and_a_paging_reader() {
    let f = fixture(PUSHERS);
    let (pushed, seen) = pushers_and_reader(&f, BATCHES, PER_BATCH, 7);
    assert_eq!(pushed.len(), PUSHERS * BATCHES * PER_BATCH);
    // The server also writes flags for new households; the pushed records are the rest.
    let ids: Vec<&String> = seen
        .changes
        .iter()
        .filter(|(_, entity, _)| entity == "household")
        .map(|(_, _, id)| id)
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "a record reached the reader twice"
    );
    let expected: BTreeSet<&String> = pushed.iter().collect();
    assert_eq!(distinct, expected, "the reader missed or invented records");
    assert_eq!(ids.len(), PUSHERS * BATCHES * PER_BATCH);
    println!(
        "{} records (and {} server changes) in {} pages",
        ids.len(),
        seen.changes.len() - ids.len(),
        seen.pages
    );
}

/// A page's checksum must describe the copy that page completes. The reader keeps pulling
/// while writers commit; every checksum reported must equal the reader's own.
#[test]
fn pull_checksums_match_the_page_under_concurrent_pushes() {
    let f = fixture(PUSHERS);
    // Many small commits, and pages large enough that most end caught up and so carry a
    // checksum: each is a chance for a commit to land inside a pull.
    let (_, seen) = pushers_and_reader(&f, 2 * BATCHES, 1, 1000);
    let wrong: Vec<_> = seen
        .checksums
        .iter()
        .filter(|(server, mine)| server != mine)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} checksums disagree with the page they end (server, reader's copy): {:?}",
        wrong.len(),
        seen.checksums.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
}

/// Workers sharing a grid edit the same few records at the same time, each its own field
/// (so a stale write shows whatever the HLC order), each batch then adding a few records so
/// transactions overlap. Every value must be merged: each record ends as the merge of
/// everything applied, and its history holds it all.
#[test]
fn concurrent_edits_of_the_same_records_lose_nothing() {
    const RECORDS: usize = 2;
    let f = fixture(PUSHERS + 1);
    let ids: Vec<String> = (0..RECORDS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    // The records exist first, so the race is between updates only.
    let created = pusher(&f, PUSHERS, 1, |_| {
        ids.iter()
            .map(|id| {
                let fields = json!({"group_name": "起点"});
                (id.clone(), Op::Put(fields.as_object().unwrap().clone()))
            })
            .collect()
    });
    let edits: Vec<(String, Op, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PUSHERS)
            .map(|k| {
                let (f, ids) = (&f, &ids);
                s.spawn(move || {
                    pusher(f, k, BATCHES, |b| {
                        let kinds = ["registered", "resident", "rental", "vacant"];
                        let value = match k % 8 {
                            0 => json!({"notes": format!("{k}-{b}")}),
                            1 => json!({"address": format!("{k}-{b}")}),
                            2 => json!({"lat": 28.0 + (b as f64) / 100.0}),
                            3 => json!({"head_name": format!("{k}-{b}")}),
                            4 => json!({"lng": 112.0 + (b as f64) / 100.0}),
                            5 => json!({"kind": kinds[b % 4]}),
                            6 => json!({"leaflet_delivered": b % 2 == 0}),
                            _ => json!({"group_name": format!("{k}-{b}")}),
                        };
                        let mut batch = vec![(
                            ids[(k + b) % RECORDS].clone(),
                            Op::Put(value.as_object().unwrap().clone()),
                        )];
                        batch.extend((0..4).map(|_| {
                            let fields = json!({"notes": "新"});
                            (
                                uuid::Uuid::new_v4().to_string(),
                                Op::Put(fields.as_object().unwrap().clone()),
                            )
                        }));
                        batch
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .filter(|(id, _, _)| ids.contains(id))
            .collect()
    });
    let mut conn = f.server.conn();
    let mut problems = Vec::new();
    for id in &ids {
        let mut merged = RecordState::default();
        for (_, op, hlc) in created.iter().chain(&edits).filter(|(rid, _, _)| rid == id) {
            merged.apply(op, hlc);
        }
        let row: RecordRow = records_table::table
            .find(id)
            .select(RecordRow::as_select())
            .first(&mut conn)
            .expect("record");
        let stored = f.server.state_of(&row);
        for (field, hlc) in &merged.hlcs {
            if stored.hlcs.get(field) != Some(hlc) {
                problems.push(format!(
                    "{id}.{field}: stored {:?} at {:?}, newest applied {:?} at {hlc}",
                    stored.fields.get(field),
                    stored.hlcs.get(field),
                    merged.fields[field]
                ));
            }
        }
        let history = records::history(&mut conn, id).expect("history");
        // One history entry per mutation: each writes one field.
        let expected = created
            .iter()
            .chain(&edits)
            .filter(|(rid, _, _)| rid == id)
            .count();
        if history.len() != expected {
            problems.push(format!(
                "{id}: {} history entries, expected {expected}",
                history.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "concurrent edits lost values:\n{}",
        problems.join("\n")
    );
}

/// Two pushes edit different fields of one record while a third transaction holds the
/// grid's sequence row, so both have started when they queue for it. Each must merge into
/// the record as the other left it: on PostgreSQL a push that read the record before waiting
/// would write back its stale copy over the first one's change.
#[test]
fn an_edit_that_waited_for_the_scope_is_merged_into_the_latest_record() {
    let f = fixture(2);
    let id = uuid::Uuid::new_v4().to_string();
    let put = |fields: Value| Op::Put(fields.as_object().unwrap().clone());
    pusher(&f, 0, 1, |_| {
        vec![(id.clone(), put(json!({"kind": "resident"})))]
    });
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let holder = s.spawn(|| {
            let mut conn = f.server.pool().get().expect("connection");
            fangzha::db::write_tx(&mut conn, |c| {
                diesel::update(scope_seqs::table.find("g"))
                    .set(scope_seqs::seq.eq(scope_seqs::seq))
                    .execute(c)?;
                locked_tx.send(()).unwrap();
                // Long enough for both pushes to read the record and queue behind us.
                std::thread::sleep(std::time::Duration::from_millis(800));
                Ok::<_, diesel::result::Error>(())
            })
            .expect("hold the scope row");
        });
        locked_rx.recv().unwrap();
        let (f, id) = (&f, &id);
        let notes = s.spawn(move || {
            pusher(f, 0, 1, |_| {
                vec![(id.clone(), put(json!({"notes": "门口有狗"})))]
            })
        });
        let address = s.spawn(move || {
            pusher(f, 1, 1, |_| {
                vec![(id.clone(), put(json!({"address": "幸福路 1 号"})))]
            })
        });
        holder.join().unwrap();
        notes.join().unwrap();
        address.join().unwrap();
    });
    let row = records::get(&mut f.server.conn(), &id)
        .expect("read")
        .expect("record");
    let fields = f.server.state_of(&row).fields;
    assert_eq!(
        (
            fields.get("kind"),
            fields.get("notes"),
            fields.get("address")
        ),
        (
            Some(&json!("resident")),
            Some(&json!("门口有狗")),
            Some(&json!("幸福路 1 号"))
        ),
        "a concurrent edit was lost: {fields:?}"
    );
}

/// A cadre's batch writes several grids; two cadres writing the same grids in opposite
/// orders at once must both succeed (no deadlock surfacing as a failed push).
#[test]
fn concurrent_batches_over_several_scopes_both_succeed() {
    let db = TestDb::fresh("sim");
    let server = Server::start(&db.url, 4);
    let mut conn = server.conn();
    support::create_area(&mut conn, "t", "township", None);
    support::create_area(&mut conn, "v", "village", Some("t"));
    support::create_area(&mut conn, "g1", "grid", Some("v"));
    support::create_area(&mut conn, "g2", "grid", Some("v"));
    let since = fangzha::db::now_ms() - DAY;
    let cadres: Vec<AuthUser> = (0..2)
        .map(|k| {
            let id = support::create_user(
                &mut conn,
                &format!("cadre{k}"),
                Role::Cadre,
                &["v".to_owned()],
                since,
            );
            support::auth_user(&mut conn, &id)
        })
        .collect();
    drop(conn);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|k| {
                let (server, cadre) = (&server, &cadres[k]);
                s.spawn(move || {
                    let client_id = uuid::Uuid::new_v4().to_string();
                    let mut clock = Clock::new(&client_id);
                    let mut conn = server.pool().get().expect("connection");
                    let order = if k == 0 { ["g1", "g2"] } else { ["g2", "g1"] };
                    let mut failures = Vec::new();
                    let mut mid = 0;
                    for b in 0..30 {
                        let mutations: Vec<Value> = order
                            .iter()
                            .map(|scope| {
                                mid += 1;
                                let hlc = clock.tick(fangzha::db::now_ms() as u64).to_string();
                                json!({"mid": mid, "hlc": hlc, "entity": "household", "id": uuid::Uuid::new_v4().to_string(),
                                       "scope": scope, "op": "put", "fields": {"notes": format!("{k}-{b}")}})
                            })
                            .collect();
                        let req = PushRequest { client_id: client_id.clone(), schema: 1, mutations };
                        match support::push_on(&mut conn, server.ctx(), cadre, &req, fangzha::db::now_ms()) {
                            Ok(_) => {}
                            Err(e) => {
                                failures.push(format!("cadre {k} batch {b}: {e}"));
                                mid -= 2; // the batch did not happen; send its mids again
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} pushes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
