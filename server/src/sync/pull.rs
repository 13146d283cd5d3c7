//! `POST /api/sync/pull`: changes of the user's scopes after their cursors, in seq order.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::SyncContext;
use super::entities::{self, Entity};
use super::push::{check_client_id, check_schema};
use super::scopes::{Access, AreaTree};
use super::view;
use crate::auth::AuthUser;
use crate::db::personal::{self, NewAccess};
use crate::db::records::{self, RecordRow};
use crate::db::{self, DbConn, devices};
use crate::domain::account::Role;
use crate::error::ApiResult;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 2000;
/// Largest page the server sends, whatever the client asks (SYNC.md: at least 1000).
pub const MAX_LIMIT: usize = 5000;

/// The pull body.
#[derive(Debug, Deserialize)]
pub struct PullRequest {
    /// The device.
    pub client_id: String,
    /// Protocol version.
    pub schema: u32,
    /// Last seq seen per scope; missing scopes start at 0.
    #[serde(default)]
    pub cursors: BTreeMap<String, i64>,
    /// Page size hint.
    pub limit: Option<u64>,
}

/// The pull answer.
#[derive(Debug, Serialize)]
pub struct PullResponse {
    /// Scopes the user holds now.
    pub scopes: Vec<String>,
    /// Scopes in the request the user no longer holds: drop their records.
    pub removed_scopes: Vec<String>,
    /// Records changed, each as its whole current state.
    pub changes: Vec<Change>,
    /// New cursor of every held scope.
    pub cursors: BTreeMap<String, i64>,
    /// Pull again when true.
    pub has_more: bool,
    /// Server wall clock.
    pub server_time_ms: i64,
    /// For each scope caught up by this page: what the client's copy should add up to.
    pub checksums: BTreeMap<String, Checksum>,
}

/// One record's current state.
#[derive(Debug, Serialize)]
pub struct Change {
    pub scope: String,
    pub seq: i64,
    pub entity: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    pub hlc: Map<String, Value>,
    pub deleted: bool,
    /// The greatest HLC in the record (its version, used by the checksum).
    pub version: String,
}

/// Count and digest of a scope's live records as the user sees them: the XOR over records
/// of the first 8 bytes of SHA-256(`id` + `@` + `version`), in hex. A client computes the
/// same over its copy; a difference means divergence and calls for a pull from 0.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Checksum {
    pub count: u64,
    pub xor: String,
}

/// The checksum contribution of one record.
pub fn record_digest(id: &str, version: &str) -> u64 {
    let d = Sha256::digest(format!("{id}@{version}").as_bytes());
    u64::from_be_bytes(d[..8].try_into().unwrap_or_default())
}

/// Reads one page for the user.
pub fn pull(
    conn: &mut DbConn,
    sync: &SyncContext,
    user: &AuthUser,
    req: &PullRequest,
    now_ms: i64,
) -> ApiResult<PullResponse> {
    check_client_id(&req.client_id)?;
    check_schema(req.schema)?;
    // A plain read for a known device: pulls must not queue behind SQLite's write lock.
    devices::claim(conn, &req.client_id, &user.id, now_ms)?;
    // One snapshot for the page and its checksums, so a checksum describes exactly the
    // state the page brings the client to, whatever commits meanwhile.
    let (resp, deliveries) = db::read_tx(conn, |conn| page(conn, sync, user, req, now_ms))?;
    // Every full personal value handed to a person is logged (PIPL): who, which record, when.
    personal::log_access(conn, &deliveries)?;
    Ok(resp)
}

fn page(
    conn: &mut DbConn,
    sync: &SyncContext,
    user: &AuthUser,
    req: &PullRequest,
    now_ms: i64,
) -> ApiResult<(PullResponse, Vec<NewAccess>)> {
    let tree = AreaTree::load(conn)?;
    let access = Access::load(conn, &user.id, user.role, &tree)?;
    let held = access.current();
    let removed_scopes: Vec<String> = req
        .cursors
        .keys()
        .filter(|s| !held.contains(*s))
        .cloned()
        .collect();
    let limit = req
        .limit
        .map_or(DEFAULT_LIMIT, |l| (l as usize).clamp(1, MAX_LIMIT));
    let mut deliveries = Vec::new();
    let mut changes = Vec::new();
    let mut cursors = BTreeMap::new();
    let mut caught_up = Vec::new();
    let mut has_more = false;
    for scope in held {
        let start = req.cursors.get(scope).copied().unwrap_or(0).max(0);
        let room = limit.saturating_sub(changes.len());
        if room == 0 {
            has_more = true;
            cursors.insert(scope.clone(), start);
            continue;
        }
        let rows = records::changed_since(conn, scope, start, room as i64 + 1)?;
        let more = rows.len() > room;
        let mut cursor = start;
        for row in rows.into_iter().take(room) {
            cursor = row.seq;
            let Some(entity) = entities::entity(&row.entity)
                .filter(|e| e.record_visible_to(user.role, &row.fields))
            else {
                continue;
            };
            if row.deleted && start == 0 {
                continue;
            }
            let (change, delivered) = change(row, entity, sync, user.role);
            if !delivered.is_empty() {
                deliveries.push(NewAccess {
                    at_ms: now_ms,
                    user_id: user.id.clone(),
                    record_id: change.id.clone(),
                    entity: change.entity.clone(),
                    fields: delivered.join(","),
                    purpose: "sync_pull".into(),
                });
            }
            changes.push(change);
        }
        cursors.insert(scope.clone(), cursor);
        if more {
            has_more = true;
        } else {
            caught_up.push(scope.clone());
        }
    }
    let mut checksums = BTreeMap::new();
    for scope in caught_up {
        let sum = checksum(conn, &scope, user.role)?;
        checksums.insert(scope, sum);
    }
    let resp = PullResponse {
        scopes: held.iter().cloned().collect(),
        removed_scopes,
        changes,
        cursors,
        has_more,
        server_time_ms: now_ms,
        checksums,
    };
    Ok((resp, deliveries))
}

fn change(
    row: RecordRow,
    entity: &Entity,
    sync: &SyncContext,
    role: Role,
) -> (Change, Vec<String>) {
    let mut hlc: Map<String, Value> = serde_json::from_str(&row.hlcs).unwrap_or_default();
    // The deletion registers travel in the same map as `_delete` / `_restore` (no field name
    // starts with `_`), so a client can merge its own pending delete or restore on top.
    for (name, register) in [("_delete", &row.delete_hlc), ("_restore", &row.restore_hlc)] {
        if let Some(h) = register {
            hlc.insert(name.to_owned(), Value::String(h.clone()));
        }
    }
    let (fields, delivered) = if row.deleted {
        (None, Vec::new())
    } else {
        let stored: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
        let (fields, delivered) = view::present(&sync.cipher, role, entity, stored);
        (Some(fields), delivered)
    };
    let change = Change {
        scope: row.scope,
        seq: row.seq,
        entity: row.entity,
        id: row.id,
        fields,
        hlc,
        deleted: row.deleted,
        version: row.version,
    };
    (change, delivered)
}

/// The checksum of a scope's live records visible to `role`. Reads ids and versions only;
/// record fields are read just for police, whose view of flags depends on the subject.
pub fn checksum(conn: &mut DbConn, scope: &str, role: Role) -> ApiResult<Checksum> {
    let flag_fields: HashMap<String, String> = if role == Role::Police {
        records::live_of_entity(conn, "flag", scope)?
            .into_iter()
            .map(|r| (r.id, r.fields))
            .collect()
    } else {
        HashMap::new()
    };
    let mut count = 0;
    let mut xor = 0u64;
    for (id, entity, version) in records::live_versions(conn, scope)? {
        let fields = flag_fields.get(&id).map_or("{}", String::as_str);
        if entities::entity(&entity).is_some_and(|e| e.record_visible_to(role, fields)) {
            count += 1;
            xor ^= record_digest(&id, &version);
        }
    }
    Ok(Checksum {
        count,
        xor: format!("{xor:016x}"),
    })
}
