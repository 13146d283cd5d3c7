//! Gaps the simulation ran into, each as a minimal scenario.

use diesel::r2d2::PooledConnection;
use fangzha::auth::AuthUser;
use fangzha::db::DbManager;
use fangzha::domain::account::Role;
use fangzha::sync::hlc::Clock;
use fangzha::sync::merge::{Op, RecordState};
use fangzha::sync::pull::{Change, PullRequest};
use fangzha::sync::push::PushRequest;
use serde_json::{Value, json};

use crate::support::{self, Server, TestDb};

const DAY: i64 = 24 * 3_600_000;

/// A phone with its own clock and mids.
struct Phone {
    user: AuthUser,
    client_id: String,
    clock: Clock,
    mid: i64,
}

impl Phone {
    fn new(conn: &mut PooledConnection<DbManager>, name: &str) -> Phone {
        let since = fangzha::db::now_ms() - DAY;
        let id = support::create_user(conn, name, Role::GridWorker, &["g".to_owned()], since);
        let client_id = uuid::Uuid::new_v4().to_string();
        Phone {
            user: support::auth_user(conn, &id),
            clock: Clock::new(&client_id),
            client_id,
            mid: 0,
        }
    }

    /// Stamps a mutation now (not sent yet).
    fn stamp(&mut self, id: &str, op: &str, fields: Value) -> Value {
        self.mid += 1;
        let hlc = self.clock.tick(fangzha::db::now_ms() as u64).to_string();
        json!({"mid": self.mid, "hlc": hlc, "entity": "household", "id": id, "scope": "g",
               "op": op, "fields": fields})
    }

    fn push(&self, server: &Server, mutations: Vec<Value>) {
        let req = PushRequest {
            client_id: self.client_id.clone(),
            schema: 1,
            mutations,
        };
        let resp = server
            .push(&self.user, &req, fangzha::db::now_ms())
            .expect("push");
        assert!(
            resp.results.iter().all(|r| r.status == "applied"),
            "{:?}",
            resp.results
        );
    }

    fn pull_record(&self, server: &Server, id: &str) -> Change {
        let req = PullRequest {
            client_id: self.client_id.clone(),
            schema: 1,
            cursors: Default::default(),
            limit: None,
        };
        let resp = server
            .pull(&self.user, &req, fangzha::db::now_ms())
            .expect("pull");
        resp.changes
            .into_iter()
            .find(|c| c.id == id)
            .expect("record pulled")
    }
}

/// The mergeable state a phone can rebuild from a pulled change. The delete and restore
/// registers are read from the change's `hlc` map under `_delete` and `_restore` (the names
/// the change history uses): the shape this test proposes, adjust it with the server.
fn state_from_change(change: &Change) -> RecordState {
    let hlc = |name: &str| {
        change
            .hlc
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    RecordState {
        fields: change
            .fields
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        hlcs: change
            .hlc
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        delete_hlc: hlc("_delete"),
        restore_hlc: hlc("_restore"),
    }
}

/// SYNC.md: a pull sends "the record's whole current state", and the phone lays its pending
/// mutations on top. Deletion is a register of its own, so a pending delete can be merged
/// only if the change tells the phone the record's delete and restore HLCs; with field HLCs
/// alone the phone shows as deleted a record the server keeps (found by the simulation:
/// the copy stays wrong until the record changes again or a checksum forces a full
/// download of the scope).
#[test]
fn a_pulled_change_lets_a_phone_merge_its_pending_delete() {
    let db = TestDb::fresh("sim");
    let server = Server::start(&db.url, 2);
    let mut conn = server.conn();
    support::create_area(&mut conn, "t", "township", None);
    support::create_area(&mut conn, "v", "village", Some("t"));
    support::create_area(&mut conn, "g", "grid", Some("v"));
    let mut a = Phone::new(&mut conn, "a");
    let mut b = Phone::new(&mut conn, "b");
    drop(conn);
    let id = uuid::Uuid::new_v4().to_string();

    let created = a.stamp(&id, "put", json!({"address": "幸福路 1 号"}));
    a.push(&server, vec![created]);
    // b deletes; then a, offline, deletes too (stamped later); then b restores (later still).
    let b_delete = b.stamp(&id, "delete", json!({}));
    b.push(&server, vec![b_delete]);
    std::thread::sleep(std::time::Duration::from_millis(3));
    a.clock
        .observe(&b.clock.current(), fangzha::db::now_ms() as u64);
    let pending = a.stamp(&id, "delete", json!({}));
    std::thread::sleep(std::time::Duration::from_millis(3));
    b.clock
        .observe(&a.clock.current(), fangzha::db::now_ms() as u64);
    let b_restore = b.stamp(&id, "restore", json!({}));
    b.push(&server, vec![b_restore]);

    // a pulls before sending its delete and lays it on top of what it received.
    let change = a.pull_record(&server, &id);
    assert!(!change.deleted);
    let mut local = state_from_change(&change);
    local.apply(&Op::Delete, pending["hlc"].as_str().unwrap());

    // What the server makes of the same delete.
    a.push(&server, vec![pending]);
    let on_server = a.pull_record(&server, &id);
    assert!(!on_server.deleted, "the later restore wins on the server");
    assert!(
        !local.deleted(),
        "the phone cannot tell: change.hlc = {:?} carries no delete/restore HLCs",
        change.hlc
    );
}
