//! The flag engine: after each push (inside its transaction) and on demand, recomputes the
//! flags of the households and rentals the changes touched, and writes them as server
//! changes through the sync engine, so flags reach phones and desks like any record.
//!
//! One flag per (subject, kind), with a stable id; it is created when its rule fires and
//! kept afterwards (`active: false`) so its history and review stay. The review fields
//! (`state`, `review_note`) belong to police and admins; the engine only reopens a reviewed
//! flag as `new` when its level rises.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::db::DbConn;
use crate::db::records::{self, RecordRow, SeqAllocator};
use crate::domain::registration::{self, MemberFacts};
use crate::domain::risk::RiskRules;
use crate::error::ApiResult;
use crate::sync::hlc::Clock;
use crate::sync::merge::Op;
use crate::sync::write::{self, Target, Writer};

/// A household or rental whose flags may have changed.
pub type Subject = (&'static str, String);

/// The subjects a changed record bears on.
pub fn subjects_of(row: &RecordRow) -> Vec<Subject> {
    let fields: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let field = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    match row.entity.as_str() {
        "household" => vec![("household", row.id.clone())],
        "member" => field("household_id")
            .map(|h| ("household", h))
            .into_iter()
            .collect(),
        "rental" => vec![("rental", row.id.clone())],
        "tenant" | "inspection" => field("rental_id")
            .map(|r| ("rental", r))
            .into_iter()
            .collect(),
        "visit" => match (field("target_entity").as_deref(), field("target_id")) {
            (Some("household"), Some(id)) => vec![("household", id)],
            (Some("rental"), Some(id)) => vec![("rental", id)],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Shared state of one recompute: the server clock and per-scope caches.
pub struct Engine<'a> {
    clock: &'a Mutex<Clock>,
    now_ms: i64,
    rules: RiskRules,
    cache: HashMap<(&'static str, String), Vec<RecordRow>>,
    written: usize,
}

impl<'a> Engine<'a> {
    /// An engine stamping with the server clock at `now_ms`.
    pub fn new(clock: &'a Mutex<Clock>, now_ms: i64) -> Self {
        Engine {
            clock,
            now_ms,
            rules: RiskRules::builtin(),
            cache: HashMap::new(),
            written: 0,
        }
    }

    /// Recomputes the flags of these subjects; returns how many flag changes were written.
    pub fn refresh(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        subjects: BTreeSet<Subject>,
    ) -> ApiResult<usize> {
        for (entity, id) in subjects {
            let Some(row) = records::get(conn, &id)?.filter(|r| r.entity == entity) else {
                continue;
            };
            match entity {
                "household" => self.household(conn, seqs, &row)?,
                _ => self.rental(conn, seqs, &row)?,
            }
        }
        Ok(self.written)
    }

    fn live(
        &mut self,
        conn: &mut DbConn,
        entity: &'static str,
        scope: &str,
    ) -> ApiResult<&Vec<RecordRow>> {
        let key = (entity, scope.to_owned());
        if !self.cache.contains_key(&key) {
            let rows = records::live_of_entity(conn, entity, scope)?;
            self.cache.insert(key.clone(), rows);
        }
        Ok(&self.cache[&key])
    }

    fn household(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
    ) -> ApiResult<()> {
        let fields = fields_of(row);
        let vacant = fields.get("kind").and_then(Value::as_str) == Some("vacant");
        let members: Vec<MemberFacts> = self
            .live(conn, "member", &row.scope)?
            .iter()
            .map(fields_of)
            .filter(|m| m.get("household_id").and_then(Value::as_str) == Some(row.id.as_str()))
            .filter(|m| m.get("living_at_home").and_then(Value::as_bool) != Some(false))
            .map(|m| MemberFacts {
                has_smartphone: m.get("has_smartphone").and_then(Value::as_bool) == Some(true),
                registered: m.get("jzz_registered").and_then(Value::as_bool) == Some(true),
                covered: m.get("covered_by").is_some_and(|v| !v.is_null()),
            })
            .collect();
        let status = if vacant {
            "exempt"
        } else {
            registration::status(&members)
        };
        let holders = members.iter().filter(|m| m.has_smartphone).count();
        let registered = members
            .iter()
            .filter(|m| m.has_smartphone && m.registered)
            .count();
        let covered = members.iter().filter(|m| m.covered).count();
        let detail = format!(
            "在家成员 {} 人：智能手机 {holders} 人，已注册 {registered} 人，亲属覆盖 {covered} 人",
            members.len()
        );
        let active = !row.deleted && matches!(status, "unregistered" | "partial");
        self.upsert(
            conn,
            seqs,
            row,
            "unregistered_household",
            active,
            json!({
                "level": registration::level(status),
                "status": status,
                "reasons": [{"code": status, "points": 0, "detail": detail}],
            }),
        )?;

        let visited = self
            .live(conn, "visit", &row.scope)?
            .iter()
            .map(fields_of)
            .any(|v| {
                v.get("target_id").and_then(Value::as_str) == Some(row.id.as_str())
                    && v.get("kind").and_then(Value::as_str) == Some("door_to_door")
            });
        let active = !row.deleted && !vacant && !visited;
        let detail = if visited {
            "已有入户走访记录"
        } else {
            "尚无入户走访记录"
        };
        self.upsert(
            conn,
            seqs,
            row,
            "not_visited",
            active,
            json!({
                "level": "info",
                "reasons": [{"code": "not_visited", "points": 0, "detail": detail}],
            }),
        )
    }

    fn rental(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
    ) -> ApiResult<()> {
        let fields = fields_of(row);
        let latest = self
            .live(conn, "inspection", &row.scope)?
            .iter()
            .map(|r| (fields_of(r), r.version.clone()))
            .filter(|(f, _)| f.get("rental_id").and_then(Value::as_str) == Some(row.id.as_str()))
            .max_by(|a, b| {
                let when = |f: &Map<String, Value>| {
                    f.get("inspected_at")
                        .map(Value::to_string)
                        .unwrap_or_default()
                };
                (when(&a.0), &a.1).cmp(&(when(&b.0), &b.1))
            })
            .map(|(f, _)| f);
        let active_tenants = self
            .live(conn, "tenant", &row.scope)?
            .iter()
            .map(fields_of)
            .filter(|t| t.get("rental_id").and_then(Value::as_str) == Some(row.id.as_str()))
            .filter(|t| t.get("move_out").is_none_or(Value::is_null))
            .count() as u64;
        let mut codes: BTreeSet<String> = latest
            .as_ref()
            .and_then(|f| f.get("indicators")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        // Derived by the server from facts (DOMAIN.md): B1, D1, D2. X1 needs the ID-number
        // index of the personal-data work and is not derived yet.
        if latest
            .as_ref()
            .and_then(|f| f.get("occupants_observed")?.as_u64())
            .is_some_and(|n| n > active_tenants)
        {
            codes.insert("B1".into());
        }
        if matches!(
            fields.get("rent_mode").and_then(Value::as_str),
            Some("short" | "daily")
        ) {
            codes.insert("D1".into());
        }
        if fields.get("payment").and_then(Value::as_str) == Some("cash")
            && fields.get("written_contract").and_then(Value::as_bool) != Some(true)
        {
            codes.insert("D2".into());
        }
        let score = self.rules.score(&codes);
        let active = !row.deleted && score.level != "green";
        self.upsert(
            conn,
            seqs,
            row,
            "fraud_risk",
            active,
            json!({
                "level": score.level,
                "score": score.score,
                "reasons": score.reasons,
                "rule_version": score.rule_version,
            }),
        )
    }

    /// Writes the changed fields of a flag; creates it only when its rule fires.
    fn upsert(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        subject: &RecordRow,
        kind: &str,
        active: bool,
        computed: Value,
    ) -> ApiResult<()> {
        let id = flag_id(&subject.id, kind);
        let existing = records::get(conn, &id)?;
        if existing.is_none() && !active {
            return Ok(());
        }
        let mut desired: Map<String, Value> = computed.as_object().cloned().unwrap_or_default();
        desired.insert("subject_entity".into(), json!(subject.entity));
        desired.insert("subject_id".into(), json!(subject.id));
        desired.insert("kind".into(), json!(kind));
        desired.insert("active".into(), json!(active));
        let current = existing.as_ref().map(fields_of).unwrap_or_default();
        let mut changed: Map<String, Value> = desired
            .into_iter()
            .filter(|(k, v)| current.get(k) != Some(v))
            .collect();
        match current.get("state").and_then(Value::as_str) {
            None => {
                changed.insert("state".into(), json!("new"));
            }
            Some("new") => {}
            Some(_) => {
                let rank =
                    |f: &Map<String, Value>| level_rank(f.get("level").and_then(Value::as_str));
                if changed.contains_key("level") && rank(&changed) > rank(&current) {
                    changed.insert("state".into(), json!("new"));
                }
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let hlc = self
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(self.now_ms as u64)
            .to_string();
        let target = Target {
            entity: "flag",
            id: &id,
            scope: &subject.scope,
        };
        let writer = Writer {
            user_id: None,
            client_id: "server",
            mid: None,
        };
        write::apply(
            conn,
            seqs,
            existing,
            target,
            &Op::Put(changed),
            &hlc,
            writer,
            self.now_ms,
        )?;
        self.written += 1;
        Ok(())
    }
}

/// Recomputes every household's and rental's flags (`fangzha flags recompute`, the demo).
pub fn recompute_all(conn: &mut DbConn, clock: &Mutex<Clock>, now_ms: i64) -> ApiResult<usize> {
    let mut subjects = BTreeSet::new();
    for entity in ["household", "rental"] {
        for (id, _) in records::ids_of_entity(conn, entity)? {
            subjects.insert((entity, id));
        }
    }
    let mut seqs = SeqAllocator::default();
    let written = Engine::new(clock, now_ms).refresh(conn, &mut seqs, subjects)?;
    seqs.finish(conn)?;
    Ok(written)
}

/// The stable id of a subject's flag of a kind: a UUID-shaped digest, so every server
/// replica and every recompute addresses the same record.
pub fn flag_id(subject_id: &str, kind: &str) -> String {
    let d = Sha256::digest(format!("flag:{subject_id}:{kind}").as_bytes());
    let mut b: [u8; 16] = d[..16].try_into().unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    uuid::Uuid::from_bytes(b).to_string()
}

fn level_rank(level: Option<&str>) -> u8 {
    match level {
        Some("red") => 3,
        Some("yellow") => 2,
        Some("info") => 1,
        _ => 0,
    }
}

fn fields_of(row: &RecordRow) -> Map<String, Value> {
    serde_json::from_str(&row.fields).unwrap_or_default()
}
