//! A grid worker moved to another grid, step by step through the real services: offline
//! work stamped before the move is kept, work stamped after is refused and kept for review,
//! and the phone is told to drop the old grid.

use std::time::Duration;

use diesel::prelude::*;
use fangzha::auth::AuthUser;
use fangzha::db::schema::rejected_mutations;
use fangzha::db::{self, records};
use fangzha::services::accounts::{self, NewUser};
use fangzha::sync::hlc::Clock;
use fangzha::sync::pull::PullRequest;
use fangzha::sync::push::PushRequest;
use serde_json::{Value, json};

use crate::support::{self, Server, TestDb};

fn put(mid: i64, hlc: &str, id: &str, scope: &str, notes: &str) -> Value {
    json!({"mid": mid, "hlc": hlc, "entity": "household", "id": id, "scope": scope,
           "op": "put", "fields": {"notes": notes}})
}

/// Waits until the wall clock has moved on, so "before" and "after" differ in milliseconds.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn reassignment_keeps_earlier_work_and_refuses_later_work() {
    let test_db = TestDb::fresh("sim");
    let server = Server::start(&test_db.url, 2);
    {
        let mut conn = server.conn();
        support::create_area(&mut conn, "t", "township", None);
        support::create_area(&mut conn, "v", "village", Some("t"));
        support::create_area(&mut conn, "a", "grid", Some("v"));
        support::create_area(&mut conn, "b", "grid", Some("v"));
    }
    let (user, _) = accounts::create(
        server.pool(),
        NewUser {
            username: "wangli".into(),
            password: "a-long-password-1".into(),
            name: None,
            role: "grid_worker".into(),
            areas: vec!["a".into()],
        },
        None,
    )
    .await
    .expect("create user");
    let me = || -> AuthUser { support::auth_user(&mut server.conn(), &user.id) };
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut clock = Clock::new(&client_id);
    let (in_a, in_b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );

    // The phone pulls grid a once, so its cursors name it.
    let first = server
        .pull(
            &me(),
            &PullRequest {
                client_id: client_id.clone(),
                schema: 1,
                cursors: Default::default(),
                limit: None,
            },
            db::now_ms(),
        )
        .expect("first pull");
    assert_eq!(first.scopes, vec!["a".to_owned()]);
    let cursors = first.cursors.clone();
    assert!(cursors.contains_key("a"));

    // Offline: an edit in a, and one in b before the worker ever held b.
    tick().await;
    let before = clock.tick(db::now_ms() as u64).to_string();
    let b_before = clock.tick(db::now_ms() as u64).to_string();
    tick().await;
    accounts::set_areas(server.pool(), user.id.clone(), vec!["b".into()], None)
        .await
        .expect("reassign");
    tick().await;
    let after = clock.tick(db::now_ms() as u64).to_string();

    // All of it is sent after the move.
    let req = PushRequest {
        client_id: client_id.clone(),
        schema: 1,
        mutations: vec![
            put(1, &before, &in_a, "a", "done before the move"),
            put(2, &after, &in_a, "a", "done after the move"),
            put(3, &b_before, &in_b, "b", "b before it was mine"),
        ],
    };
    let resp = server.push(&me(), &req, db::now_ms()).expect("push");
    let statuses: Vec<&str> = resp.results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        ["applied", "rejected", "applied"],
        "{:?}",
        resp.results
    );
    let error = resp.results[1].error.as_ref().expect("rejection detail");
    assert_eq!(error.code, "scope_forbidden");
    assert_eq!(error.field.as_deref(), Some("scope"));
    assert_eq!(resp.last_mid, 3, "a rejected mutation uses up its mid");

    // The earlier edit is the record's value; the later one is only kept for review.
    let mut conn = server.conn();
    let row = records::get(&mut conn, &in_a)
        .expect("read")
        .expect("record in a");
    let fields: Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(fields["notes"], "done before the move");
    let history = records::history(&mut conn, &in_a).expect("history");
    assert_eq!(
        history.len(),
        1,
        "the refused value is not part of the record's history"
    );
    assert_eq!(history[0].hlc, before);
    let kept: Vec<(String, i64, String, Option<String>, String)> = rejected_mutations::table
        .select((
            rejected_mutations::client_id,
            rejected_mutations::mid,
            rejected_mutations::code,
            rejected_mutations::field,
            rejected_mutations::payload,
        ))
        .load(&mut conn)
        .expect("rejected mutations");
    assert_eq!(kept.len(), 1, "{kept:?}");
    let (kept_client, kept_mid, kept_code, kept_field, payload) = &kept[0];
    assert_eq!(
        (kept_client, *kept_mid, kept_code.as_str()),
        (&client_id, 2, "scope_forbidden")
    );
    assert_eq!(kept_field.as_deref(), Some("scope"));
    let payload: Value = serde_json::from_str(payload).expect("payload is the mutation");
    assert_eq!(
        payload, req.mutations[1],
        "the refused mutation is kept whole"
    );
    drop(conn);

    // Sending the batch again changes nothing: all duplicate, nothing more kept.
    let again = server.push(&me(), &req, db::now_ms()).expect("push again");
    assert!(
        again.results.iter().all(|r| r.status == "duplicate"),
        "{:?}",
        again.results
    );
    let count: i64 = rejected_mutations::table
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(count, 1);

    // The next pull tells the phone to drop a, and sends b from the start.
    let pulled = server
        .pull(
            &me(),
            &PullRequest {
                client_id: client_id.clone(),
                schema: 1,
                cursors,
                limit: None,
            },
            db::now_ms(),
        )
        .expect("pull after the move");
    assert_eq!(pulled.removed_scopes, vec!["a".to_owned()]);
    assert_eq!(pulled.scopes, vec!["b".to_owned()]);
    assert!(
        pulled.changes.iter().all(|c| c.scope == "b"),
        "{:?}",
        pulled.changes
    );
    // b's one household (the server may add its own flags about it).
    let households: Vec<&str> = pulled
        .changes
        .iter()
        .filter(|c| c.entity == "household")
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(households, [in_b.as_str()]);
    assert!(!pulled.cursors.contains_key("a"));

    // A pull that no longer names a does not announce it again.
    let later = server
        .pull(
            &me(),
            &PullRequest {
                client_id,
                schema: 1,
                cursors: pulled.cursors.clone(),
                limit: None,
            },
            db::now_ms(),
        )
        .expect("later pull");
    assert!(later.removed_scopes.is_empty());
    assert!(later.changes.is_empty());
}
