//! `POST /api/sync/push`: a device's batch of mutations, applied in one transaction.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SyncContext;
use super::entities::{self, Entity, Kind};
use super::hlc::Hlc;
use super::merge::Op;
use super::scopes::{Access, AreaTree};
use super::write::{self, Target, Writer};
use crate::auth::AuthUser;
use crate::db::records::{self, NewRejected, RecordRow, SeqAllocator};
use crate::db::{self, DbConn, devices};
use crate::error::{ApiError, ApiResult};
use crate::flags;

/// Most mutations in one push.
pub const MAX_MUTATIONS: usize = 500;
/// How far ahead of the server clock an HLC may be.
pub const MAX_SKEW_MS: u64 = 10 * 60 * 1000;

/// The push body. Mutations stay raw JSON so one malformed mutation is rejected alone.
#[derive(Debug, Deserialize)]
pub struct PushRequest {
    /// The device.
    pub client_id: String,
    /// Protocol version.
    pub schema: u32,
    /// The batch, in mid order.
    pub mutations: Vec<Value>,
}

/// The push answer.
#[derive(Debug, Serialize)]
pub struct PushResponse {
    /// The device's last applied mid after this batch.
    pub last_mid: i64,
    /// Server wall clock.
    pub server_time_ms: i64,
    /// Server HLC after seeing the batch.
    pub server_hlc: String,
    /// One result per mutation, in order.
    pub results: Vec<MutationResult>,
}

/// What happened to one mutation.
#[derive(Debug, Serialize)]
pub struct MutationResult {
    /// Its mid.
    pub mid: i64,
    /// `applied`, `duplicate` or `rejected`.
    pub status: &'static str,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Rejection>,
}

/// Why a mutation was rejected.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// Machine code (SYNC.md).
    pub code: &'static str,
    /// Chinese message.
    pub message: String,
    /// The field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn reject(code: &'static str, message: impl Into<String>, field: Option<&str>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
        field: field.map(str::to_owned),
    }
}

/// Checks the request as a whole (before any database work): client id, schema, size,
/// mids and clock skew. Returns the mids.
pub fn check_batch(req: &PushRequest, now_ms: i64) -> ApiResult<Vec<i64>> {
    check_client_id(&req.client_id)?;
    check_schema(req.schema)?;
    if req.mutations.len() > MAX_MUTATIONS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_mutations",
            format!("一次最多提交 {MAX_MUTATIONS} 条修改，请分批同步"),
        ));
    }
    let mut mids = Vec::with_capacity(req.mutations.len());
    for (i, m) in req.mutations.iter().enumerate() {
        let mid = m
            .get("mid")
            .and_then(Value::as_i64)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("第 {} 条修改缺少有效的 mid（正整数）", i + 1),
                )
            })?;
        if let Some(prev) = mids.last()
            && mid != prev + 1
        {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("同一批内 mid 必须连续递增：{prev} 之后是 {mid}"),
            ));
        }
        mids.push(mid);
    }
    let limit = now_ms.max(0) as u64 + MAX_SKEW_MS;
    let ahead = req
        .mutations
        .iter()
        .filter_map(|m| m.get("hlc").and_then(Value::as_str).and_then(Hlc::parse))
        .any(|h| h.ms > limit);
    if ahead {
        return Err(ApiError::conflict(
            "clock_skew",
            "手机时间比服务器快了 10 分钟以上，请校准时间后重试",
        )
        .with("server_time_ms", now_ms));
    }
    Ok(mids)
}

/// 400 unless the client id is a UUID.
pub fn check_client_id(client_id: &str) -> ApiResult<()> {
    uuid::Uuid::parse_str(client_id).map(|_| ()).map_err(|_| {
        ApiError::bad_request("invalid_request", "client_id 必须是 UUID").with("field", "client_id")
    })
}

/// 426 for a protocol version this server does not speak.
pub fn check_schema(schema: u32) -> ApiResult<()> {
    if schema == super::SCHEMA {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "schema_unsupported",
            "应用版本过旧或过新，请更新应用后再同步（数据已保存在手机上）",
        )
        .with("supported", super::SCHEMA))
    }
}

/// Applies a checked batch inside one write transaction.
pub fn apply_batch(
    conn: &mut DbConn,
    sync: &SyncContext,
    user: &AuthUser,
    req: &PushRequest,
    mids: &[i64],
    now_ms: i64,
) -> ApiResult<PushResponse> {
    db::write_tx(conn, |conn| {
        let last = devices::claim(conn, &req.client_id, &user.id, now_ms)?;
        if let Some(&first_new) = mids.iter().find(|&&m| m > last)
            && first_new != last + 1
        {
            return Err(ApiError::conflict(
                "mid_gap",
                format!("修改编号不连续：服务器期望 {}", last + 1),
            )
            .with("expected", last + 1));
        }
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let mut seqs = SeqAllocator::default();
        // Lock every scope the batch writes, in sorted order, before reading any record:
        // no lost update between read and write, and no lock cycle between two batches.
        let scopes: std::collections::BTreeSet<&str> = req
            .mutations
            .iter()
            .zip(mids)
            .filter(|(_, mid)| **mid > last)
            .filter_map(|(m, _)| m.get("scope").and_then(Value::as_str))
            .filter(|s| tree.contains(s))
            .collect();
        for scope in scopes {
            seqs.lock(conn, scope)?;
        }
        let mut results = Vec::with_capacity(mids.len());
        let mut new_last = last;
        let mut subjects = BTreeSet::new();
        for (m, &mid) in req.mutations.iter().zip(mids) {
            if mid <= last {
                results.push(MutationResult {
                    mid,
                    status: "duplicate",
                    error: None,
                });
                continue;
            }
            new_last = mid;
            let ctx = Ctx {
                sync,
                user,
                access: &access,
                tree: &tree,
                client_id: &req.client_id,
                mid,
                now_ms,
            };
            match apply_one(conn, &mut seqs, &ctx, m)? {
                Ok(row) => {
                    subjects.extend(flags::subjects_of(&row));
                    results.push(MutationResult {
                        mid,
                        status: "applied",
                        error: None,
                    });
                }
                Err(rejection) => {
                    records::add_rejected(
                        conn,
                        &NewRejected {
                            client_id: req.client_id.clone(),
                            user_id: user.id.clone(),
                            mid,
                            code: rejection.code.to_owned(),
                            message: rejection.message.clone(),
                            field: rejection.field.clone(),
                            payload: m.to_string(),
                            at_ms: now_ms,
                        },
                    )?;
                    results.push(MutationResult {
                        mid,
                        status: "rejected",
                        error: Some(rejection),
                    });
                }
            }
        }
        // The server clock moves past the batch first, so flags it raises order after it.
        {
            let mut clock = sync.clock.lock().unwrap_or_else(|p| p.into_inner());
            for m in &req.mutations {
                if let Some(h) = m.get("hlc").and_then(Value::as_str).and_then(Hlc::parse) {
                    clock.observe(&h, now_ms as u64);
                }
            }
        }
        // Flags of what this batch touched, in the same transaction: a push and the flags it
        // raises commit together.
        flags::Engine::new(sync, now_ms).refresh(conn, &mut seqs, subjects)?;
        seqs.finish(conn)?;
        devices::set_last_mid(conn, &req.client_id, new_last, now_ms)?;
        let server_hlc = sync.tick(now_ms);
        Ok(PushResponse {
            last_mid: new_last,
            server_time_ms: now_ms,
            server_hlc,
            results,
        })
    })
}

struct Ctx<'a> {
    sync: &'a SyncContext,
    user: &'a AuthUser,
    access: &'a Access,
    tree: &'a AreaTree,
    client_id: &'a str,
    mid: i64,
    now_ms: i64,
}

/// Validates and applies one mutation. The outer error is a database failure (the batch
/// fails); the inner one a rejection (the batch goes on).
fn apply_one(
    conn: &mut DbConn,
    seqs: &mut SeqAllocator,
    ctx: &Ctx<'_>,
    m: &Value,
) -> ApiResult<Result<RecordRow, Rejection>> {
    let parsed = match parse_mutation(m, ctx.client_id) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let Parsed {
        entity,
        id,
        scope,
        hlc,
        at_ms,
        mut op,
    } = parsed;
    let role = ctx.access.role();
    if !ctx.tree.contains(scope) || !ctx.access.may_write(scope, at_ms) {
        return Ok(Err(reject(
            "scope_forbidden",
            "无权修改该区域的记录",
            Some("scope"),
        )));
    }
    let existing = records::get(conn, id)?;
    if let Some(row) = &existing {
        if row.entity != entity.name {
            return Ok(Err(reject(
                "invalid_mutation",
                "该编号已属于另一类记录",
                Some("id"),
            )));
        }
        if row.scope != scope {
            return Ok(Err(reject(
                "invalid_mutation",
                "记录所属区域不能通过同步修改",
                Some("scope"),
            )));
        }
    }
    match &mut op {
        Op::Put(fields) => {
            if let Err(r) = check_fields(conn, ctx, entity, existing.as_ref(), fields, at_ms)? {
                return Ok(Err(r));
            }
        }
        Op::Delete | Op::Restore => {
            if !entity
                .fields
                .iter()
                .any(|(f, _)| entity.writable_by(role, f))
                || entity.name == "flag"
            {
                return Ok(Err(reject(
                    "field_forbidden",
                    "无权删除或恢复此类记录",
                    None,
                )));
            }
        }
    }
    let target = Target {
        entity: entity.name,
        id,
        scope,
    };
    let writer = Writer {
        user_id: Some(&ctx.user.id),
        client_id: ctx.client_id,
        mid: Some(ctx.mid),
    };
    let row = write::apply(
        conn,
        seqs,
        &ctx.sync.cipher,
        existing,
        target,
        &op,
        hlc,
        writer,
        ctx.now_ms,
    )?;
    Ok(Ok(row))
}

/// The envelope of one mutation, checked for shape but not yet against the database.
pub struct Parsed<'a> {
    /// The record's entity.
    pub entity: &'static Entity,
    /// The record id (a UUID).
    pub id: &'a str,
    /// The scope named (not yet checked against the area tree).
    pub scope: &'a str,
    /// The HLC as sent (well-formed, of `client_id`).
    pub hlc: &'a str,
    /// The HLC's wall-clock part.
    pub at_ms: i64,
    /// What the mutation does.
    pub op: Op,
}

/// Parses one raw mutation of a push by `client_id`: entity, id, HLC, scope and op. Pure,
/// so the fuzz target (`fuzz/`) runs it on arbitrary JSON.
pub fn parse_mutation<'a>(m: &'a Value, client_id: &str) -> Result<Parsed<'a>, Rejection> {
    let Some(obj) = m.as_object() else {
        return Err(reject("invalid_mutation", "修改必须是 JSON 对象", None));
    };
    let entity_name = obj.get("entity").and_then(Value::as_str);
    let entity = match entity_name {
        Some(name) => entities::entity(name).ok_or_else(|| {
            reject(
                "unknown_entity",
                format!("未知的记录类型：{name}"),
                Some("entity"),
            )
        })?,
        None => {
            return Err(reject(
                "invalid_mutation",
                "缺少记录类型 entity",
                Some("entity"),
            ));
        }
    };
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| uuid::Uuid::parse_str(s).is_ok())
        .ok_or_else(|| {
            reject(
                "invalid_mutation",
                "记录编号 id 缺失或不是 UUID",
                Some("id"),
            )
        })?;
    let hlc_str = obj
        .get("hlc")
        .and_then(Value::as_str)
        .ok_or_else(|| reject("invalid_mutation", "缺少时间戳 hlc", Some("hlc")))?;
    let hlc = Hlc::parse(hlc_str)
        .ok_or_else(|| reject("invalid_mutation", "时间戳 hlc 格式错误", Some("hlc")))?;
    if hlc.node != client_id {
        return Err(reject(
            "invalid_mutation",
            "时间戳 hlc 的设备编号与 client_id 不一致",
            Some("hlc"),
        ));
    }
    let scope = obj
        .get("scope")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| reject("invalid_mutation", "缺少所属区域 scope", Some("scope")))?;
    let op = match obj.get("op").and_then(Value::as_str) {
        Some("put") => match obj.get("fields") {
            Some(Value::Object(fields)) => Op::Put(fields.clone()),
            None => Op::Put(Map::new()),
            Some(_) => {
                return Err(reject(
                    "invalid_mutation",
                    "fields 必须是对象",
                    Some("fields"),
                ));
            }
        },
        Some("delete") => Op::Delete,
        Some("restore") => Op::Restore,
        _ => {
            return Err(reject(
                "invalid_mutation",
                "op 必须是 put、delete 或 restore",
                Some("op"),
            ));
        }
    };
    Ok(Parsed {
        entity,
        id,
        scope,
        hlc: hlc_str,
        at_ms: hlc.ms as i64,
        op,
    })
}

/// Field rules: known, writable by the role, well-typed, valid, references resolvable.
/// Masked values written back are dropped from the put.
fn check_fields(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    entity: &Entity,
    existing: Option<&RecordRow>,
    fields: &mut Map<String, Value>,
    at_ms: i64,
) -> ApiResult<Result<(), Rejection>> {
    let role = ctx.access.role();
    let stored = existing.map(|r| write::state_of(r, &ctx.sync.cipher));
    let id_type = fields
        .get("id_type")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            stored
                .as_ref()
                .and_then(|s| s.fields.get("id_type")?.as_str().map(str::to_owned))
        });
    let mut masked_echoes = Vec::new();
    for (name, value) in fields.iter() {
        let Some(kind) = entity.field(name) else {
            return Ok(Err(reject(
                "unknown_field",
                format!("{} 没有字段 {name}", entity.name),
                Some(name),
            )));
        };
        if !entity.writable_by(role, name) {
            return Ok(Err(reject(
                "field_forbidden",
                format!("无权修改字段 {name}"),
                Some(name),
            )));
        }
        if entities::is_sensitive(kind)
            && !entities::sees_full_values(role)
            && let (Some(v), Some(current)) = (
                value.as_str(),
                stored.as_ref().and_then(|s| s.fields.get(name)?.as_str()),
            )
            && v == entities::mask(kind, current)
        {
            masked_echoes.push(name.clone());
            continue;
        }
        if let Err((code, message)) = entities::check_value(kind, value, id_type.as_deref()) {
            return Ok(Err(reject(code, format!("{name}：{message}"), Some(name))));
        }
        if let (Kind::Ref(target), Some(ref_id)) = (kind, value.as_str()) {
            let ok = records::get(conn, ref_id)?.is_some_and(|r| {
                r.entity == target && !r.deleted && ctx.access.may_write(&r.scope, at_ms)
            });
            if !ok {
                return Ok(Err(reject(
                    "unknown_reference",
                    format!("{name} 指向的记录不存在或不在您负责的区域"),
                    Some(name),
                )));
            }
        }
    }
    for name in masked_echoes {
        fields.remove(&name);
    }
    Ok(Ok(()))
}
