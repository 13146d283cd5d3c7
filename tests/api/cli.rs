//! The `fangzha` binary against the same database as a running server.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

pub(crate) fn fangzha(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fangzha"))
        .arg("--database")
        .arg(&app.database_url)
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fangzha");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_add_then_login() {
    let app = spawn_app().await;
    let out = fangzha(
        &app,
        &[
            "user",
            "add",
            "--username",
            "zhangwei",
            "--role",
            "admin",
            "--name",
            "张伟",
            "--password-stdin",
        ],
        Some("a long password with spaces\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = app.login("zhangwei", "a long password with spaces").await;
    assert_eq!(body["user"]["name"], "张伟");
    assert_eq!(body["user"]["role"], "admin");

    // The trailing newline is not part of the password.
    let r = app
        .post(
            "/api/auth/login",
            &json!({"username": "zhangwei", "password": "a long password with spaces\n"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);

    let dup = fangzha(
        &app,
        &[
            "user",
            "add",
            "--username",
            "zhangwei",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("another-password\n"),
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("用户名已被使用"));

    let bad_area = fangzha(
        &app,
        &[
            "user",
            "add",
            "--username",
            "lisi",
            "--role",
            "cadre",
            "--area",
            "nowhere",
            "--password-stdin",
        ],
        Some("another-password\n"),
    );
    assert!(!bad_area.status.success());
    let empty = fangzha(
        &app,
        &[
            "user",
            "add",
            "--username",
            "lisi",
            "--role",
            "cadre",
            "--password-stdin",
        ],
        Some(""),
    );
    assert!(!empty.status.success());
}

#[tokio::test]
async fn migrate_is_idempotent_and_demo_loads_once() {
    let app = spawn_app().await;
    let out = fangzha(&app, &["migrate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let out = fangzha(&app, &["demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // Each demo account's password is printed once; logging in with it works.
    let line = text
        .lines()
        .find(|l| l.starts_with("police "))
        .expect(&text);
    let password = line.split_whitespace().last().unwrap();
    let body = app.login("police", password).await;
    assert_eq!(body["user"]["role"], "police");
    assert_eq!(body["user"]["areas"].as_array().unwrap().len(), 4);

    // The demo's records are real synced records: police pull the rental side, unmasked.
    let token = body["access_token"].as_str().unwrap();
    let page: serde_json::Value = app
        .post(
            "/api/sync/pull",
            &json!({"client_id": uuid::Uuid::now_v7().to_string(), "schema": 1, "limit": 5000}),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    let changes = page["changes"].as_array().unwrap();
    assert!(changes.len() > 100, "{}", changes.len());
    assert!(changes.iter().all(|c| {
        ["rental", "tenant", "inspection", "flag"].contains(&c["entity"].as_str().unwrap())
    }));
    let tenant = changes.iter().find(|c| c["entity"] == "tenant").unwrap();
    let id_number = tenant["fields"]["id_number"].as_str().unwrap();
    assert_eq!(id_number.len(), 18);
    assert!(!id_number.contains('*'));

    // The demo computed its flags; recomputing them changes nothing.
    assert!(text.contains("条提示"), "{text}");
    let out = fangzha(&app, &["flags", "recompute"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("写入 0 处变更"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let again = fangzha(&app, &["demo"], None);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already loaded"));
}
