//! Set-up of the grid worker, and the checks after the run: the database as the last kill
//! left it, and what a pull serves.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::Text;
use fangzha::db::records::RecordRow;
use fangzha::db::schema::{devices, record_history, records, rejected_mutations};
use fangzha::db::{self, DbConn};
use fangzha::services::accounts::{self, NewUser};
use fangzha::services::areas::{self, NewArea};
use serde_json::{Map, Value};

use crate::client::{PASSWORD, PulledPage, USERNAME};
use crate::device::Device;
use crate::server::ServerSpec;

/// The grid the device writes.
const GRID: &str = "crash-grid";

fn area(id: &str, level: &str, parent: Option<&str>) -> NewArea {
    NewArea {
        id: Some(id.into()),
        name: format!("{id} 区域"),
        level: level.into(),
        parent_id: parent.map(str::to_owned),
        boundary: None,
        qr_link: None,
        wechat_group: None,
    }
}

/// A township, a village and a grid, and a grid worker holding the grid, written straight
/// into the (migrated) database while the server runs. Returns the grid id.
pub async fn set_up_grid_worker(url: &str) -> String {
    let pool = db::connect(url, 1).expect("set-up pool");
    db::run_tx(&pool, |conn| {
        areas::create(conn, area("crash-town", "township", None), None)?;
        areas::create(
            conn,
            area("crash-village", "village", Some("crash-town")),
            None,
        )?;
        areas::create(conn, area(GRID, "grid", Some("crash-village")), None)?;
        Ok(())
    })
    .await
    .expect("areas");
    accounts::create(
        &pool,
        NewUser {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            name: None,
            role: "grid_worker".into(),
            areas: vec![GRID.into()],
        },
        None,
    )
    .await
    .expect("grid worker");
    GRID.into()
}

/// `fangzha migrate` on the database a kill just left: succeeds and has nothing to do.
pub fn migrate_is_clean(spec: &ServerSpec) -> Result<(), String> {
    let out = spec
        .command()
        .arg("migrate")
        .output()
        .map_err(|e| format!("running fangzha migrate: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains("up to date") {
        return Err(format!(
            "fangzha migrate after the last kill: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// The database after the last kill: sound (SQLite's integrity check), the device's last
/// mid is its last mutation, no mutation rejected, one history entry per value of each
/// mutation (so each applied exactly once), and every record as the device left it.
pub async fn database(url: &str, device: &Device) -> Result<(), String> {
    let pool = db::connect(url, 1).map_err(|e| format!("{e:#}"))?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let conn: &mut DbConn = &mut conn;
    let e = |e: diesel::result::Error| e.to_string();

    if let DbConn::Sqlite(c) = &mut *conn {
        let rows: Vec<IntegrityRow> = diesel::sql_query("PRAGMA integrity_check")
            .load(c)
            .map_err(e)?;
        let report: Vec<&str> = rows.iter().map(|r| r.integrity_check.as_str()).collect();
        if report != ["ok"] {
            return Err(format!("SQLite integrity check: {report:?}"));
        }
    }

    let last_mid: i64 = devices::table
        .find(&device.client_id)
        .select(devices::last_mid)
        .first(conn)
        .map_err(e)?;
    if last_mid != device.last_mid() {
        return Err(format!(
            "the server's last mid is {last_mid}, the device made {}",
            device.last_mid()
        ));
    }
    let rejected: i64 = rejected_mutations::table
        .filter(rejected_mutations::client_id.eq(&device.client_id))
        .count()
        .get_result(conn)
        .map_err(e)?;
    if rejected != 0 {
        return Err(format!("{rejected} mutations were rejected"));
    }

    let history: Vec<(Option<i64>, String, String, Option<String>)> = record_history::table
        .filter(record_history::client_id.eq(&device.client_id))
        .select((
            record_history::mid,
            record_history::record_id,
            record_history::field,
            record_history::value,
        ))
        .load(conn)
        .map_err(e)?;
    // mid -> the (record, field) entries it left, each at most once.
    let mut per_mid: BTreeMap<i64, BTreeSet<(String, String)>> = BTreeMap::new();
    for (mid, record, field, value) in history {
        let mid = mid.ok_or("a history entry of the device without a mid")?;
        for field in entry_fields(field, value.as_deref())? {
            if !per_mid
                .entry(mid)
                .or_default()
                .insert((record.clone(), field.clone()))
            {
                return Err(format!(
                    "mutation {mid} wrote {field} of {record} twice into the history"
                ));
            }
        }
    }
    for (i, fields) in device.history_fields.iter().enumerate() {
        let mid = i as i64 + 1;
        let record = device.outbox[i]["id"].as_str().unwrap_or_default();
        let want: BTreeSet<(String, String)> = fields
            .iter()
            .map(|f| (record.to_owned(), f.clone()))
            .collect();
        let got = per_mid.remove(&mid).unwrap_or_default();
        if got != want {
            return Err(format!(
                "mutation {mid} left the history entries {got:?}, not {want:?}: {}",
                device.outbox[i]
            ));
        }
    }
    if let Some((mid, entries)) = per_mid.into_iter().next() {
        return Err(format!(
            "history entries {entries:?} for mid {mid}, never sent"
        ));
    }

    let rows: Vec<RecordRow> = records::table
        .filter(records::scope.eq(&device.scope))
        .filter(records::entity.eq_any(["household", "member"]))
        .select(RecordRow::as_select())
        .load(conn)
        .map_err(e)?;
    if rows.len() != device.expected.len() {
        return Err(format!(
            "{} records in the grid, the device made {}",
            rows.len(),
            device.expected.len()
        ));
    }
    for row in &rows {
        let want = device
            .expected
            .get(&row.id)
            .ok_or_else(|| format!("record {} was never made", row.id))?;
        if row.entity != want.entity {
            return Err(format!(
                "record {} is a {}, the device made a {}",
                row.id, row.entity, want.entity
            ));
        }
        if row.deleted != want.deleted {
            return Err(format!(
                "record {} deleted = {}, expected {}",
                row.id, row.deleted, want.deleted
            ));
        }
        let stored: Map<String, Value> = serde_json::from_str(&row.fields).map_err(|e| {
            format!(
                "record {} fields are not JSON ({e}): {}",
                row.id, row.fields
            )
        })?;
        // Personal values are stored encrypted: only their presence is compared here (the
        // pull check compares their masked form).
        compare_fields(&row.id, &stored, &want.fields, |_, v| v.is_string())?;
    }
    let max_seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let next = db::records::scope_seq(conn, &device.scope).map_err(e)?;
    if next < max_seq {
        return Err(format!(
            "the grid's sequence is at {next}, below a stored record's seq {max_seq}"
        ));
    }
    Ok(())
}

/// The fields one stored history row speaks for: its `field`, or, for a row that packs
/// every value of one write (`field` = `*`, `value` a JSON array of `[field, value, won]`),
/// each of them.
fn entry_fields(field: String, value: Option<&str>) -> Result<Vec<String>, String> {
    if field != "*" {
        return Ok(vec![field]);
    }
    let packed: Vec<(String, Value, bool)> = value
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| format!("a packed history row that does not parse: {value:?}"))?;
    Ok(packed.into_iter().map(|(f, _, _)| f).collect())
}

/// A pull from cursor 0 after the run, applied as a phone applies it: each live record once,
/// with the device's last values (personal values masked, as a grid worker receives them).
/// SYNC.md leaves deleted records out from cursor 0 only: a record deleted after the first
/// page's end comes on a later page as a tombstone, which must be one the device deleted.
/// Returns how many tombstones later pages brought.
pub fn pulled(device: &Device, pages: &[PulledPage]) -> Result<usize, String> {
    let mut served = BTreeSet::new();
    let mut live_served = 0;
    let mut tombstones = 0;
    for page in pages {
        for c in page.changes.iter().filter(|c| c["entity"] != "flag") {
            let id = c["id"].as_str().ok_or("a change without id")?;
            let scope = c["scope"].as_str().ok_or("a change without scope")?;
            let want = device
                .expected
                .get(id)
                .ok_or_else(|| format!("pulled record {id} was never made"))?;
            if !served.insert(id.to_owned()) {
                // Nothing writes during the pull, so a record's one row is served once.
                return Err(format!("record {id} pulled twice"));
            }
            if c["deleted"] == true {
                if page.asked[scope].as_i64().unwrap_or(0) == 0 {
                    return Err(format!("pulled a deleted record from cursor 0: {c}"));
                }
                if !want.deleted {
                    return Err(format!(
                        "record {id} pulled as deleted, the device has it live"
                    ));
                }
                tombstones += 1;
                continue;
            }
            if want.deleted {
                return Err(format!(
                    "record {id} pulled live, the device deleted it: {c}"
                ));
            }
            let fields = c["fields"].as_object().cloned().unwrap_or_default();
            compare_fields(id, &fields, &want.fields, |want, got| {
                let w = want.as_str().unwrap_or("");
                got.as_str() == Some(&format!("{}****{}", &w[..3], &w[w.len() - 4..]))
            })?;
            live_served += 1;
        }
    }
    let live = device.expected.values().filter(|r| !r.deleted).count();
    if live != live_served {
        return Err(format!(
            "pull served {live_served} live records, the device has {live}"
        ));
    }
    Ok(tombstones)
}

/// Every expected field present with its value; `phone` judged by `personal(want, got)`.
fn compare_fields(
    id: &str,
    got: &Map<String, Value>,
    want: &Map<String, Value>,
    personal: impl Fn(&Value, &Value) -> bool,
) -> Result<(), String> {
    for (name, value) in want {
        let stored = got.get(name).unwrap_or(&Value::Null);
        // Exact, numbers too: serde_json is built with `float_roundtrip`, so a coordinate
        // comes back with every digit the phone sent.
        let same = if name == "phone" {
            personal(value, stored)
        } else {
            stored == value
        };
        if !same {
            return Err(format!(
                "record {id}: {name} is {stored}, the device last wrote {value}"
            ));
        }
    }
    Ok(())
}
