//! `fangzha backup` while the server runs and writes, `fangzha restore` into a fresh data dir
//! and database, and a server started on the restore answering exactly as the original did.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fangzha::config::Settings;
use fangzha::startup::Application;
use serde_json::{Value, json};

use crate::blobs::{phone_jpeg, sha};
use crate::helpers::{TestApp, spawn_app};
use crate::sync::{Device, ID, new_id, setup};
use crate::test_db::TestDb;

/// Runs the binary off the async threads (the test's writer task keeps running meanwhile).
async fn fangzha(database_url: &str, data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fangzha"));
    cmd.arg("--database")
        .arg(database_url)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || cmd.output().expect("run fangzha"))
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts a server on an existing database and data dir; returns its base URL.
async fn serve(database_url: &str, data_dir: &Path) -> String {
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Some(database_url.to_owned()),
        data_dir: data_dir.to_path_buf(),
        db_pool_size: 2,
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .expect("build restored app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// Every file under `dir`, relative, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What a grid worker and an admin see of the fixed records: the worker's whole pull (minus
/// the clock), each record's history, and both variants of the photo.
async fn observe(
    client: &reqwest::Client,
    base: &str,
    worker: &str,
    admin: &str,
    client_id: &str,
    records: &[(&str, &str)],
    digest: &str,
) -> Value {
    let mut pull: Value = client
        .post(format!("{base}/api/sync/pull"))
        .bearer_auth(worker)
        .json(&json!({"client_id": client_id, "schema": 1, "limit": 1000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    pull.as_object_mut().unwrap().remove("server_time_ms");
    let mut histories = Vec::new();
    for (entity, id) in records {
        let h: Value = client
            .get(format!("{base}/api/records/{entity}/{id}/history"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        histories.push(h);
    }
    let mut photos = Vec::new();
    for variant in ["display", "thumb"] {
        let r = client
            .get(format!("{base}/api/blobs/{digest}?variant={variant}"))
            .bearer_auth(worker)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{variant}");
        photos.push(hex::encode(r.bytes().await.unwrap()));
    }
    json!({"pull": pull, "histories": histories, "photos": photos})
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let body: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login {username}: {body}"))
        .to_owned()
}

/// Pushes households to its own grid until told to stop: writes racing the backup.
fn spawn_writer(
    app: &TestApp,
    dev: Device,
    scope: String,
    stop: Arc<AtomicBool>,
    applied: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    let url = app.url("/api/sync/push");
    tokio::spawn(async move {
        let mut dev = dev;
        while !stop.load(Ordering::SeqCst) {
            let m = dev.put(
                "household",
                &new_id(),
                &scope,
                json!({"address": "并发写入 1 号", "notes": "written during the backup"}),
            );
            let r = client
                .post(&url)
                .bearer_auth(&dev.token)
                .json(&json!({"client_id": dev.client_id, "schema": 1, "mutations": [m]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            applied.fetch_add(1, Ordering::SeqCst);
        }
    })
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_an_identical_server() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;

    // Records with history: a household updated several times, a member with an ID number
    // and a phone (encrypted at rest), a photo on the household.
    let photo = phone_jpeg(7);
    let digest = sha(&photo);
    let (h, m) = (new_id(), new_id());
    let first = vec![
        dev.put(
            "household",
            &h,
            &grid,
            json!({"address": "幸福路 12 号", "notes": "第一次", "photos": [digest]}),
        ),
        dev.put(
            "member",
            &m,
            &grid,
            json!({"household_id": h, "name": "张三", "id_number": ID, "phone": "13812345678"}),
        ),
    ];
    dev.pushed(&app, first).await;
    for notes in ["第二次", "第三次", "第四次"] {
        let update = vec![dev.put("household", &h, &grid, json!({"notes": notes}))];
        dev.pushed(&app, update).await;
    }
    let update = vec![dev.put("member", &m, &grid, json!({"phone": "13900001111"}))];
    dev.pushed(&app, update).await;
    let r = app
        .client
        .put(app.url(&format!("/api/blobs/{digest}")))
        .bearer_auth(&dev.token)
        .body(photo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let records = [("household", h.as_str()), ("member", m.as_str())];
    let before = observe(
        &app.client,
        &app.address,
        &dev.token,
        &admin,
        &dev.client_id,
        &records,
        &digest,
    )
    .await;
    assert_eq!(
        before["histories"][0]["entries"].as_array().unwrap().len(),
        6,
        "{}",
        before["histories"][0]
    );

    // Another grid worker writes on another grid all through the backup.
    let grid2 = app.add_grid(&admin, &village, "第二网格").await;
    app.add_user("zhaoqiang", "grid-password-2", "grid_worker", &[&grid2])
        .await;
    let writer_dev = Device::new(&app, "zhaoqiang", "grid-password-2").await;
    let stop = Arc::new(AtomicBool::new(false));
    let applied = Arc::new(AtomicUsize::new(0));
    let writer = spawn_writer(
        &app,
        writer_dev,
        grid2.clone(),
        stop.clone(),
        applied.clone(),
    );
    while applied.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let backups = tempfile::tempdir().unwrap();
    let out = backups.path().join("nightly");
    let done = fangzha(
        &app.database_url,
        app.data_dir.path(),
        &["backup", out.to_str().unwrap(), "--include-secrets"],
    )
    .await;
    assert!(done.status.success(), "{}", text(&done));
    let during = applied.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = applied.load(Ordering::SeqCst);
    assert!(total > during || during >= 3, "the writer ran");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "fangzha-backup");
    assert_eq!(
        manifest["migration"],
        fangzha::db::latest_migration().unwrap()
    );
    assert_eq!(manifest["secrets_included"], true);
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let pg = app.database_url.starts_with("postgres");
    assert!(paths.contains(&if pg { "fangzha.pgdump" } else { "fangzha.db" }));
    assert!(paths.contains(&"secrets/field_key"));
    assert_eq!(paths.iter().filter(|p| p.starts_with("blobs/")).count(), 2);
    // Every listed file is there with its size and digest.
    for f in manifest["files"].as_array().unwrap() {
        let bytes = std::fs::read(out.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
        assert_eq!(sha(&bytes), f["sha256"].as_str().unwrap());
    }

    // Restore into a fresh data dir and an empty database.
    let target = tempfile::tempdir().unwrap();
    let target_db = TestDb::from_env(target.path(), "test");
    let done = fangzha(
        &target_db.url,
        target.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(done.status.success(), "{}", text(&done));
    // A second restore finds data there and refuses.
    let again = fangzha(
        &target_db.url,
        target.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(!again.status.success());
    let why = if pg { "empty database" } else { "--force" };
    assert!(text(&again).contains(why), "{}", text(&again));
    if !pg {
        let forced = fangzha(
            &target_db.url,
            target.path(),
            &["restore", out.to_str().unwrap(), "--force"],
        )
        .await;
        assert!(forced.status.success(), "{}", text(&forced));
    }
    // The original data dir is never a restore target without --force.
    let onto_live = fangzha(
        &app.database_url,
        app.data_dir.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(!onto_live.status.success());

    // A server on the restore answers exactly as the original did.
    let base = serve(&target_db.url, target.path()).await;
    let client = reqwest::Client::new();
    let admin2 = login(&client, &base, "admin", "admin-password-1").await;
    let worker2 = login(&client, &base, "wangli", "grid-password-1").await;
    let after = observe(
        &client,
        &base,
        &worker2,
        &admin2,
        &dev.client_id,
        &records,
        &digest,
    )
    .await;
    assert_eq!(after, before);
    // The ID number opens with the restored key: the admin sees it whole.
    let page: Value = client
        .post(format!("{base}/api/sync/pull"))
        .bearer_auth(&admin2)
        .json(&json!({"client_id": new_id(), "schema": 1, "limit": 1000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let changes = page["changes"].as_array().unwrap();
    let member = changes.iter().find(|c| c["id"] == json!(m)).unwrap();
    assert_eq!(member["fields"]["id_number"], ID);
    assert_eq!(member["fields"]["phone"], "13900001111");
    // Of the writes racing the backup, the snapshot holds a prefix, each one whole.
    let raced: Vec<&Value> = changes
        .iter()
        .filter(|c| c["scope"] == json!(grid2) && c["entity"] == "household")
        .collect();
    assert!(raced.len() >= 3 && raced.len() <= total, "{}", raced.len());
    assert!(
        raced
            .iter()
            .all(|c| c["fields"]["notes"] == "written during the backup")
    );

    // The stored variants are byte for byte the original's.
    assert_eq!(
        files_under(&target.path().join("blobs")),
        files_under(&app.data_dir.path().join("blobs"))
    );
}

#[tokio::test]
async fn a_corrupt_backup_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let photo = phone_jpeg(9);
    let digest = sha(&photo);
    let put = vec![dev.put(
        "household",
        &new_id(),
        &grid,
        json!({"address": "幸福路 14 号", "photos": [digest]}),
    )];
    dev.pushed(&app, put).await;
    let r = app
        .client
        .put(app.url(&format!("/api/blobs/{digest}")))
        .bearer_auth(&dev.token)
        .body(photo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let backups = tempfile::tempdir().unwrap();
    let out = backups.path().join("b");
    let done = fangzha(
        &app.database_url,
        app.data_dir.path(),
        &["backup", out.to_str().unwrap()],
    )
    .await;
    assert!(done.status.success(), "{}", text(&done));
    // Without --include-secrets the operator is told the key is not in it.
    assert!(text(&done).contains("field_key"), "{}", text(&done));
    assert!(!out.join("secrets").exists());
    // An existing, non-empty directory is not a backup target.
    let busy = fangzha(
        &app.database_url,
        app.data_dir.path(),
        &["backup", out.to_str().unwrap()],
    )
    .await;
    assert!(!busy.status.success());

    // One flipped byte in a photo variant.
    let variant = files_under(&out.join("blobs"))[0].0.clone();
    let path = out.join("blobs").join(variant);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let target = tempfile::tempdir().unwrap();
    let target_db = TestDb::from_env(target.path(), "test");
    let refused = fangzha(
        &target_db.url,
        target.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("corrupt backup"),
        "{}",
        text(&refused)
    );
    // Nothing was written: the data dir is as empty as it was, the database too.
    assert_eq!(files_under(target.path()), vec![]);
    if target_db.url.starts_with("postgres") {
        let mut conn =
            <diesel::PgConnection as diesel::Connection>::establish(&target_db.url).unwrap();
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: Vec<N> = diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
            ),
            &mut conn,
        )
        .unwrap();
        assert_eq!(n[0].n, 0);
    }

    // A backup cut short (no manifest) and a manifest that is not JSON are refused too.
    std::fs::write(out.join("manifest.json"), b"{ not json").unwrap();
    let garbled = fangzha(
        &target_db.url,
        target.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(!garbled.status.success());
    assert!(text(&garbled).contains("manifest"), "{}", text(&garbled));
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let partial = fangzha(
        &target_db.url,
        target.path(),
        &["restore", out.to_str().unwrap()],
    )
    .await;
    assert!(!partial.status.success());
    assert!(text(&partial).contains("no manifest"), "{}", text(&partial));
    assert_eq!(files_under(target.path()), vec![]);
}
