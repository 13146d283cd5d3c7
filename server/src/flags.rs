//! The flag engine: after each push (inside its transaction) and on demand, recomputes the
//! flags of the households, rentals and tenants the changes touched, and writes them as
//! server changes through the sync engine, so flags reach phones and desks like any record.
//!
//! One flag per (subject, kind), with a stable id; it is created when its rule fires and
//! kept afterwards (`active: false`) so its history and review stay. The review fields
//! (`state`, `review_note`) belong to police and admins; the engine only reopens a reviewed
//! flag as `new` when its level rises.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::db::records::{self, RecordRow, SeqAllocator};
use crate::db::{DbConn, areas, personal};
use crate::domain::calendar;
use crate::domain::geo;
use crate::domain::registration::{self, MemberFacts};
use crate::error::ApiResult;
use crate::services;
use crate::sync::SyncContext;
use crate::sync::merge::Op;
use crate::sync::write::{self, Target, Writer};

/// A household, rental or tenant whose flags may have changed.
pub type Subject = (&'static str, String);

/// The subjects a changed record bears on.
pub fn subjects_of(row: &RecordRow) -> Vec<Subject> {
    let fields = fields_of(row);
    let field = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    match row.entity.as_str() {
        "household" => vec![("household", row.id.clone())],
        "member" => field("household_id")
            .map(|h| ("household", h))
            .into_iter()
            .collect(),
        "rental" => vec![("rental", row.id.clone())],
        "tenant" => {
            let mut s = vec![("tenant", row.id.clone())];
            s.extend(field("rental_id").map(|r| ("rental", r)));
            s
        }
        "inspection" => field("rental_id")
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

/// One recompute: the sync context and per-scope caches.
pub struct Engine<'a> {
    sync: &'a SyncContext,
    now_ms: i64,
    /// Set for a full recompute: facts read in bulk, writes stored in bulk.
    bulk: Option<Bulk>,
    boundaries: HashMap<String, Option<Value>>,
    /// The campaign start in force, read once per recompute.
    campaign_start: Option<String>,
    written: usize,
}

/// What a full recompute holds in memory: the records of the scope being recomputed, every
/// tenant's ID-hash row, and the flag writes waiting to be stored. Reading a scope in one
/// query and writing its flags in multi-row statements is what makes a township-wide
/// recompute take seconds rather than a query per subject and per flag.
/// Rows are shared (`Rc`), not copied, between the id map, the children lists and the
/// rules that read them: copying records was a third of a recompute's time.
#[derive(Default)]
struct Bulk {
    rows: HashMap<String, Rc<RecordRow>>,
    /// Live children by (entity, parent id).
    children: HashMap<(&'static str, String), Vec<Rc<RecordRow>>>,
    index: HashMap<String, personal::IdIndexRow>,
    by_hash: HashMap<String, Vec<personal::IdIndexRow>>,
    pending: Vec<write::Prepared>,
}

impl<'a> Engine<'a> {
    /// An engine stamping with the server clock at `now_ms`.
    pub fn new(sync: &'a SyncContext, now_ms: i64) -> Self {
        Engine {
            sync,
            now_ms,
            bulk: None,
            boundaries: HashMap::new(),
            campaign_start: None,
            written: 0,
        }
    }

    /// Recomputes the flags of these subjects, and of tenants and rentals sharing an ID
    /// number with a touched tenant; returns how many flag changes were written.
    pub fn refresh(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        subjects: BTreeSet<Subject>,
    ) -> ApiResult<usize> {
        let mut queue: Vec<Subject> = subjects.into_iter().collect();
        let mut done: BTreeSet<Subject> = BTreeSet::new();
        while let Some(subject) = queue.pop() {
            if !done.insert(subject.clone()) {
                continue;
            }
            let (entity, id) = subject;
            let Some(row) = self.record(conn, &id)?.filter(|r| r.entity == entity) else {
                continue;
            };
            match entity {
                "household" => self.household(conn, seqs, &row)?,
                "rental" => self.rental(conn, seqs, &row)?,
                _ => {
                    let peers = self.tenant(conn, seqs, &row)?;
                    // A full recompute visits every tenant and rental anyway.
                    if self.bulk.is_none() {
                        for peer in peers {
                            queue.push(("tenant", peer.record_id.clone()));
                            queue.extend(peer.rental_id.map(|r| ("rental", r)));
                        }
                    }
                }
            }
        }
        Ok(self.written)
    }

    /// A record by id: from the loaded scope in a full recompute, else from the database.
    fn record(&self, conn: &mut DbConn, id: &str) -> ApiResult<Option<Rc<RecordRow>>> {
        match &self.bulk {
            Some(bulk) => Ok(bulk.rows.get(id).cloned()),
            None => Ok(records::get(conn, id)?.map(Rc::new)),
        }
    }

    /// Live records of `entity` that belong to `parent`. A full recompute sees only the
    /// children filed in their parent's scope (phones file them there).
    fn children(
        &self,
        conn: &mut DbConn,
        entity: &'static str,
        parent: &RecordRow,
    ) -> ApiResult<Vec<Rc<RecordRow>>> {
        match &self.bulk {
            Some(bulk) => Ok(bulk
                .children
                .get(&(entity, parent.id.clone()))
                .cloned()
                .unwrap_or_default()),
            None => Ok(records::live_children(conn, entity, &parent.id)?
                .into_iter()
                .map(Rc::new)
                .collect()),
        }
    }

    /// A person record's ID-hash row.
    fn index_of(&self, conn: &mut DbConn, id: &str) -> ApiResult<Option<personal::IdIndexRow>> {
        match &self.bulk {
            Some(bulk) => Ok(bulk.index.get(id).cloned()),
            None => Ok(personal::index_of(conn, id)?),
        }
    }

    /// Index rows of tenants at other rentals with the same ID number as this tenant.
    fn elsewhere(
        &self,
        conn: &mut DbConn,
        tenant_id: &str,
    ) -> ApiResult<Vec<personal::IdIndexRow>> {
        let Some(me) = self.index_of(conn, tenant_id)? else {
            return Ok(Vec::new());
        };
        let same = match &self.bulk {
            Some(bulk) => bulk.by_hash.get(&me.id_hash).cloned().unwrap_or_default(),
            None => personal::with_hash(conn, &me.id_hash)?,
        };
        Ok(same
            .into_iter()
            .filter(|r| {
                r.entity == "tenant" && r.record_id != me.record_id && r.rental_id != me.rental_id
            })
            .collect())
    }

    /// Holds one scope's records for a full recompute; returns its live subjects.
    fn load_scope(&mut self, rows: Vec<RecordRow>) -> BTreeSet<Subject> {
        let bulk = self.bulk.get_or_insert_with(Bulk::default);
        bulk.rows.clear();
        bulk.children.clear();
        let mut subjects = BTreeSet::new();
        for row in rows {
            let row = Rc::new(row);
            if !row.deleted {
                let subject = match row.entity.as_str() {
                    "household" => Some("household"),
                    "rental" => Some("rental"),
                    "tenant" => Some("tenant"),
                    _ => None,
                };
                if let Some(entity) = subject {
                    subjects.insert((entity, row.id.clone()));
                }
                let child = match row.entity.as_str() {
                    "member" => Some("member"),
                    "visit" => Some("visit"),
                    "inspection" => Some("inspection"),
                    "tenant" => Some("tenant"),
                    _ => None,
                };
                if let (Some(entity), Some(parent)) = (child, &row.parent_id) {
                    bulk.children
                        .entry((entity, parent.clone()))
                        .or_default()
                        .push(Rc::clone(&row));
                }
            }
            bulk.rows.insert(row.id.clone(), row);
        }
        subjects
    }

    /// Stores the flag writes a full recompute has gathered for the current scope.
    fn flush(&mut self, conn: &mut DbConn) -> ApiResult<()> {
        let Some(bulk) = &mut self.bulk else {
            return Ok(());
        };
        let pending = std::mem::take(&mut bulk.pending);
        Ok(write::store_all(conn, &self.sync.cipher, pending)?)
    }

    fn household(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
    ) -> ApiResult<()> {
        let fields = fields_of(row);
        let vacant = is_vacant(&fields);
        let members = self.children(conn, "member", row)?;
        let facts = member_facts(&members);
        let status = if vacant {
            "exempt"
        } else {
            registration::status(&facts)
        };
        let holders = facts.iter().filter(|m| m.has_smartphone).count();
        let registered = facts
            .iter()
            .filter(|m| m.has_smartphone && m.registered)
            .count();
        let covered = facts.iter().filter(|m| m.covered).count();
        let detail = format!(
            "在家成员 {} 人：智能手机 {holders} 人，已注册 {registered} 人，亲属覆盖 {covered} 人",
            facts.len()
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

        let start = match &self.campaign_start {
            Some(start) => start.clone(),
            None => {
                let (_, campaign) = services::campaign::current(conn, &self.sync.campaign_start)?;
                self.campaign_start = Some(campaign.dates.start.clone());
                campaign.dates.start
            }
        };
        let visited = visited_since(&self.children(conn, "visit", row)?, &start);
        let active = !row.deleted && !vacant && !visited;
        let detail = if visited {
            "已有入户走访记录".to_owned()
        } else {
            format!("{start} 以来尚无入户走访记录")
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
        )?;
        self.outside_grid(conn, seqs, row, &fields)
    }

    fn rental(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
    ) -> ApiResult<()> {
        let fields = fields_of(row);
        let latest = latest_inspection(&self.children(conn, "inspection", row)?);
        let tenants: Vec<String> = self
            .children(conn, "tenant", row)?
            .iter()
            .filter(|t| fields_of(t).get("move_out").is_none_or(Value::is_null))
            .map(|t| t.id.clone())
            .collect();
        let mut codes: BTreeSet<String> = latest
            .as_ref()
            .and_then(|f| f.get("indicators")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        // Derived by the server from facts (DOMAIN.md): B1, D1, D2, X1.
        let observed = latest
            .as_ref()
            .and_then(|f| f.get("occupants_observed")?.as_u64());
        if observed.is_some_and(|n| n > tenants.len() as u64) {
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
        for tenant in &tenants {
            if self.elsewhere(conn, tenant)?.iter().any(|p| p.active) {
                codes.insert("X1".into());
                break;
            }
        }
        let score = self.sync.rules.score(&codes);
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
        )?;
        self.outside_grid(conn, seqs, row, &fields)
    }

    /// `duplicate_tenant` for one tenant; returns every tenant record elsewhere with its ID
    /// number, active or not (one that just moved out changes its peers' flags too).
    fn tenant(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
    ) -> ApiResult<Vec<personal::IdIndexRow>> {
        let peers = self.elsewhere(conn, &row.id)?;
        let me_active = self.index_of(conn, &row.id)?.is_some_and(|r| r.active);
        let active_peers: Vec<&personal::IdIndexRow> = peers.iter().filter(|p| p.active).collect();
        let active = !row.deleted && me_active && !active_peers.is_empty();
        let detail = format!(
            "同一身份证号同时登记在另外 {} 处出租房",
            active_peers
                .iter()
                .filter_map(|p| p.rental_id.as_ref())
                .collect::<BTreeSet<_>>()
                .len()
        );
        self.upsert(
            conn,
            seqs,
            row,
            "duplicate_tenant",
            active,
            json!({
                "level": "info",
                "reasons": [{"code": "X1", "points": 0, "detail": detail}],
            }),
        )?;
        Ok(peers)
    }

    fn outside_grid(
        &mut self,
        conn: &mut DbConn,
        seqs: &mut SeqAllocator,
        row: &RecordRow,
        fields: &Map<String, Value>,
    ) -> ApiResult<()> {
        let point = fields
            .get("lng")
            .and_then(Value::as_f64)
            .zip(fields.get("lat").and_then(Value::as_f64));
        if !self.boundaries.contains_key(&row.scope) {
            let boundary = areas::get(conn, &row.scope)?
                .and_then(|a| a.boundary)
                .and_then(|b| serde_json::from_str(&b).ok());
            self.boundaries.insert(row.scope.clone(), boundary);
        }
        let outside = match (point, &self.boundaries[&row.scope]) {
            (Some((lng, lat)), Some(boundary)) => !geo::covers(boundary, lng, lat),
            _ => false,
        };
        self.upsert(conn, seqs, row, "outside_grid", !row.deleted && outside, json!({
            "level": "info",
            "reasons": [{"code": "outside_grid", "points": 0, "detail": if outside { "登记位置不在所属网格范围内" } else { "位置在网格范围内或未登记位置" }}],
        }))
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
        // Lock before reading: a concurrent push recomputing the same flag waits.
        seqs.lock(conn, &subject.scope)?;
        let existing = self.record(conn, &id)?;
        if existing.is_none() && !active {
            return Ok(());
        }
        let Value::Object(mut desired) = computed else {
            return Ok(());
        };
        desired.insert("subject_entity".into(), json!(subject.entity));
        desired.insert("subject_id".into(), json!(subject.id));
        desired.insert("kind".into(), json!(kind));
        desired.insert("active".into(), json!(active));
        let current = existing.as_deref().map(fields_of).unwrap_or_default();
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
        let hlc = self.sync.tick(self.now_ms);
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
        let op = Op::Put(changed);
        match &mut self.bulk {
            Some(bulk) => {
                let prepared = write::prepare(
                    conn,
                    seqs,
                    &self.sync.cipher,
                    existing.as_deref(),
                    target,
                    &op,
                    &hlc,
                    writer,
                    self.now_ms,
                )?;
                // Not put back into `rows`: a full recompute visits each subject, so each
                // flag, once.
                bulk.pending.extend(prepared);
            }
            None => {
                write::apply(
                    conn,
                    seqs,
                    &self.sync.cipher,
                    existing.map(Rc::unwrap_or_clone),
                    target,
                    &op,
                    &hlc,
                    writer,
                    self.now_ms,
                )?;
            }
        }
        self.written += 1;
        Ok(())
    }
}

/// Whether a household record is marked vacant (exempt from registration and visits).
pub fn is_vacant(fields: &Map<String, Value>) -> bool {
    fields.get("kind").and_then(Value::as_str) == Some("vacant")
}

/// What the registration rule reads of a household's live members: those living at home.
pub fn member_facts<R: Borrow<RecordRow>>(members: &[R]) -> Vec<MemberFacts> {
    members
        .iter()
        .map(|m| fields_of(m.borrow()))
        .filter(|m| m.get("living_at_home").and_then(Value::as_bool) != Some(false))
        .map(|m| MemberFacts {
            has_smartphone: m.get("has_smartphone").and_then(Value::as_bool) == Some(true),
            registered: m.get("jzz_registered").and_then(Value::as_bool) == Some(true),
            covered: m.get("covered_by").is_some_and(|v| !v.is_null()),
        })
        .collect()
}

/// Whether any of a household's live visits is door to door on or after `start`
/// (a visit that does not say when counts).
pub fn visited_since<R: Borrow<RecordRow>>(visits: &[R], start: &str) -> bool {
    visits.iter().map(|v| fields_of(v.borrow())).any(|v| {
        v.get("kind").and_then(Value::as_str) == Some("door_to_door")
            && date_of(&v, "visited_at").is_none_or(|d| d.as_str() >= start)
    })
}

/// The fields of a rental's latest inspection: greatest `inspected_at`, then newest write.
pub fn latest_inspection<R: Borrow<RecordRow>>(inspections: &[R]) -> Option<Map<String, Value>> {
    inspections
        .iter()
        .map(|r| (fields_of(r.borrow()), r.borrow().version.clone()))
        .max_by(|a, b| {
            let when = |f: &Map<String, Value>| {
                f.get("inspected_at")
                    .map(Value::to_string)
                    .unwrap_or_default()
            };
            (when(&a.0), &a.1).cmp(&(when(&b.0), &b.1))
        })
        .map(|(f, _)| f)
}

/// The calendar date (China time) of a time field (`visited_at`, `inspected_at`), if set.
pub fn date_of(v: &Map<String, Value>, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) => s.get(..10).map(str::to_owned),
        Value::Number(n) => Some(calendar::date_of_ms(n.as_i64()?)),
        _ => None,
    }
}

/// Recomputes every household's, rental's and tenant's flags (`fangzha flags recompute`),
/// one scope at a time in sorted order, in the caller's transaction.
pub fn recompute_all(conn: &mut DbConn, sync: &SyncContext, now_ms: i64) -> ApiResult<usize> {
    let mut bulk = Bulk::default();
    for row in personal::tenants(conn)? {
        bulk.by_hash
            .entry(row.id_hash.clone())
            .or_default()
            .push(row.clone());
        bulk.index.insert(row.record_id.clone(), row);
    }
    let mut engine = Engine::new(sync, now_ms);
    engine.bulk = Some(bulk);
    let mut seqs = SeqAllocator::default();
    for scope in records::scopes(conn)? {
        let subjects = engine.load_scope(records::of_scope(conn, &scope)?);
        engine.refresh(conn, &mut seqs, subjects)?;
        engine.flush(conn)?;
    }
    seqs.finish(conn)?;
    Ok(engine.written)
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

/// A record's stored fields as a JSON map (sealed personal values stay sealed).
pub fn fields_of(row: &RecordRow) -> Map<String, Value> {
    serde_json::from_str(&row.fields).unwrap_or_default()
}
