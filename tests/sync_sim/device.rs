//! A phone as the sync contract expects it to behave: a local copy of its scopes, an outbox of
//! numbered mutations stamped by its own HLC, pushes that drop from the outbox only what the
//! server answered, and pulls that replace records by the server's state and lay the
//! still-pending mutations back on top.
//!
//! The model keeps, per record, the server's state as last pulled (`base`), the mutations the
//! server acknowledged since (`acked`) and the pending ones (the outbox); the local view is
//! their merge. That is what lets a rejected mutation be undone locally, as a real app must.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use fangzha::sync::hlc::{Clock, Hlc};
use fangzha::sync::merge::{Op, RecordState};
use fangzha::sync::pull::{PullRequest, PullResponse, record_digest};
use fangzha::sync::push::PushResponse;
use serde_json::{Map, Value, json};

/// One mutation as the device made it.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub mid: i64,
    pub hlc: String,
    pub entity: &'static str,
    pub id: String,
    pub scope: String,
    pub op: Op,
}

impl Mutation {
    /// The wire form (SYNC.md, Push).
    pub fn to_json(&self) -> Value {
        let mut m = json!({
            "mid": self.mid,
            "hlc": self.hlc,
            "entity": self.entity,
            "id": self.id,
            "scope": self.scope,
        });
        let (op, fields) = match &self.op {
            Op::Put(fields) => ("put", Some(fields.clone())),
            Op::Delete => ("delete", None),
            Op::Restore => ("restore", None),
        };
        m["op"] = json!(op);
        if let Some(fields) = fields {
            m["fields"] = Value::Object(fields);
        }
        m
    }

    /// The HLC's wall-clock part.
    pub fn hlc_ms(&self) -> i64 {
        Hlc::parse(&self.hlc).expect("own HLC parses").ms as i64
    }
}

/// A record as the device holds it.
#[derive(Debug, Clone)]
pub struct LocalRecord {
    pub entity: String,
    pub scope: String,
    pub state: RecordState,
    /// The record's version (greatest HLC): from the server's change, raised by every
    /// mutation laid on top. Kept because a pulled change does not carry the delete and
    /// restore registers, so the device cannot recompute it.
    pub version: Option<String>,
}

impl LocalRecord {
    fn apply(&mut self, m: &Mutation) {
        self.state.apply(&m.op, &m.hlc);
        if self.version.as_deref().is_none_or(|v| m.hlc.as_str() > v) {
            self.version = Some(m.hlc.clone());
        }
    }

    /// Whether the record is deleted in this copy.
    pub fn deleted(&self) -> bool {
        self.state.deleted()
    }
}

/// A phone.
#[derive(Debug)]
pub struct Device {
    pub client_id: String,
    pub clock: Clock,
    /// Device wall clock minus server wall clock.
    pub skew_ms: i64,
    next_mid: i64,
    /// Pending mutations, in mid order without gaps.
    pub outbox: VecDeque<Mutation>,
    /// The server's state of each record as last pulled.
    base: BTreeMap<String, LocalRecord>,
    /// Mutations answered `applied`/`duplicate` that no pull has reflected yet.
    acked: BTreeMap<String, Vec<Mutation>>,
    /// What the user sees: base + acked + pending.
    pub local: BTreeMap<String, LocalRecord>,
    /// The scopes the device believes it holds (from login, then from every pull).
    pub scopes: BTreeSet<String>,
    pub cursors: BTreeMap<String, i64>,
    /// Greatest seq received per scope since the device (re)started following it.
    last_seq: BTreeMap<String, i64>,
    /// The checksums of the latest page that carried one, per scope.
    pub checksums: BTreeMap<String, (u64, String)>,
    /// Batches sent recently, which the network may deliver again later.
    pub sent: VecDeque<Vec<Mutation>>,
}

impl Device {
    pub fn new(client_id: String, skew_ms: i64, scopes: BTreeSet<String>) -> Device {
        Device {
            clock: Clock::new(&client_id),
            client_id,
            skew_ms,
            next_mid: 1,
            outbox: VecDeque::new(),
            base: BTreeMap::new(),
            acked: BTreeMap::new(),
            local: BTreeMap::new(),
            scopes,
            cursors: BTreeMap::new(),
            last_seq: BTreeMap::new(),
            checksums: BTreeMap::new(),
            sent: VecDeque::new(),
        }
    }

    /// The device's wall clock when the server's is `now_ms`.
    pub fn wall(&self, now_ms: i64) -> u64 {
        (now_ms + self.skew_ms).max(1) as u64
    }

    /// Makes a local change: stamps it, shows it, queues it.
    pub fn edit(
        &mut self,
        now_ms: i64,
        entity: &'static str,
        id: &str,
        scope: &str,
        op: Op,
    ) -> Mutation {
        let hlc = self.clock.tick(self.wall(now_ms)).to_string();
        let m = Mutation {
            mid: self.next_mid,
            hlc,
            entity,
            id: id.to_owned(),
            scope: scope.to_owned(),
            op,
        };
        self.next_mid += 1;
        self.local
            .entry(m.id.clone())
            .or_insert_with(|| empty_record(&m))
            .apply(&m);
        self.outbox.push_back(m.clone());
        m
    }

    /// The next batch to push: the head of the outbox.
    pub fn batch(&self, max: usize) -> Vec<Mutation> {
        self.outbox.iter().take(max).cloned().collect()
    }

    /// Takes in a push answer: drops from the outbox exactly the mutations answered, undoes
    /// the rejected ones locally. Returns the mutations answered `duplicate` (the caller
    /// knows whether each was really applied).
    pub fn ack(&mut self, resp: &PushResponse, now_ms: i64) -> Vec<Mutation> {
        let mut duplicates = Vec::new();
        for r in &resp.results {
            let Some(pos) = self.outbox.iter().position(|m| m.mid == r.mid) else {
                continue; // answered before (a duplicated delivery)
            };
            let m = self.outbox.remove(pos).expect("position is valid");
            match r.status {
                "rejected" => self.rebuild(&m.id),
                status => {
                    if status == "duplicate" {
                        duplicates.push(m.clone());
                    }
                    // Work for a scope already dropped is not shown; nothing to keep.
                    if self.scopes.contains(&m.scope) {
                        self.acked.entry(m.id.clone()).or_default().push(m);
                    }
                }
            }
        }
        if let Some(h) = Hlc::parse(&resp.server_hlc) {
            let wall = self.wall(now_ms);
            self.clock.observe(&h, wall);
        }
        duplicates
    }

    /// The pull request for the device's current cursors. Every scope it believes it holds
    /// is listed (at 0 when never pulled) so the server can announce its removal.
    pub fn pull_request(&self, limit: Option<u64>) -> PullRequest {
        let mut cursors = self.cursors.clone();
        for s in &self.scopes {
            cursors.entry(s.clone()).or_insert(0);
        }
        PullRequest {
            client_id: self.client_id.clone(),
            schema: 1,
            cursors,
            limit,
        }
    }

    /// Applies one page in one "local transaction". Checks the page's ordering guarantees
    /// (errors are returned as text) and returns the scopes whose checksum disagrees with
    /// the local copy, each with a description of that copy; those are reset so the next
    /// pull fetches them from 0.
    pub fn apply_page(
        &mut self,
        req: &PullRequest,
        resp: &PullResponse,
        now_ms: i64,
    ) -> Result<Vec<(String, String)>, String> {
        let held: BTreeSet<String> = resp.scopes.iter().cloned().collect();
        for s in &resp.removed_scopes {
            if held.contains(s) {
                return Err(format!("scope {s} both held and removed"));
            }
            if !req.cursors.contains_key(s) {
                return Err(format!("removed scope {s} was not in the request"));
            }
        }
        for (s, c) in &resp.cursors {
            let before = req.cursors.get(s).copied().unwrap_or(0);
            if *c < before {
                return Err(format!("cursor of {s} went back from {before} to {c}"));
            }
        }
        // A pull from 0 is a fresh download that leaves deleted records out, so it replaces
        // the scope's copy: a record this device wrote that is deleted on the server would
        // otherwise stay visible here for ever. Pending work is laid back on top below.
        for s in &held {
            if req.cursors.get(s).copied().unwrap_or(0) == 0 {
                self.drop_records(s);
            }
        }
        let wall = self.wall(now_ms);
        let mut touched = BTreeSet::new();
        for ch in &resp.changes {
            if !held.contains(&ch.scope) {
                return Err(format!("change {} of scope {} not held", ch.id, ch.scope));
            }
            let last = self.last_seq.get(&ch.scope).copied().unwrap_or(0);
            if ch.seq <= last {
                return Err(format!(
                    "scope {} seq {} after {} (duplicate or out of order)",
                    ch.scope, ch.seq, last
                ));
            }
            self.last_seq.insert(ch.scope.clone(), ch.seq);
            match resp.cursors.get(&ch.scope) {
                Some(c) if *c >= ch.seq => {}
                other => {
                    return Err(format!(
                        "cursor {other:?} of {} below seq {}",
                        ch.scope, ch.seq
                    ));
                }
            }
            for h in ch
                .hlc
                .values()
                .filter_map(Value::as_str)
                .chain([ch.version.as_str()])
            {
                let parsed =
                    Hlc::parse(h).ok_or_else(|| format!("bad HLC {h} in change {}", ch.id))?;
                self.clock.observe(&parsed, wall);
            }
            let hlcs: BTreeMap<String, String> = ch
                .hlc
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let state = if ch.deleted {
                // The change does not carry the delete register; the version bounds it.
                RecordState {
                    fields: BTreeMap::new(),
                    hlcs,
                    delete_hlc: Some(ch.version.clone()),
                    restore_hlc: None,
                }
            } else {
                let fields = ch
                    .fields
                    .clone()
                    .ok_or_else(|| format!("live change {} without fields", ch.id))?;
                RecordState {
                    fields: fields.into_iter().collect(),
                    hlcs,
                    delete_hlc: None,
                    restore_hlc: None,
                }
            };
            self.base.insert(
                ch.id.clone(),
                LocalRecord {
                    entity: ch.entity.clone(),
                    scope: ch.scope.clone(),
                    state,
                    version: Some(ch.version.clone()),
                },
            );
            // The server applied every acknowledged mutation before this pull began.
            self.acked.remove(&ch.id);
            touched.insert(ch.id.clone());
        }
        for s in &resp.removed_scopes {
            self.forget_scope(s);
        }
        self.scopes = held;
        self.cursors = resp.cursors.clone();
        // Pending work of a scope held (again) shows on top of what was pulled.
        for m in &self.outbox {
            if self.scopes.contains(&m.scope) && !self.local.contains_key(&m.id) {
                touched.insert(m.id.clone());
            }
        }
        for id in touched {
            self.rebuild(&id);
        }
        let mut diverged = Vec::new();
        for (scope, sum) in &resp.checksums {
            let mine = (sum.count, sum.xor.clone());
            self.checksums.insert(scope.clone(), mine.clone());
            let pending = self.outbox.iter().any(|m| &m.scope == scope);
            if !pending && self.checksum(scope) != mine {
                let copy: Vec<_> = self
                    .local
                    .iter()
                    .filter(|(_, r)| &r.scope == scope)
                    .map(|(id, r)| (&id[..8], r.deleted(), &r.version))
                    .collect();
                diverged.push((
                    scope.clone(),
                    format!("{:?} over {copy:?}", self.checksum(scope)),
                ));
            }
        }
        for (s, _) in &diverged {
            // SYNC.md: a checksum difference calls for a pull from 0.
            self.forget_scope(s);
            self.cursors.remove(s);
        }
        Ok(diverged)
    }

    /// Whether a pull has told the device this record's state.
    pub fn has_server_state(&self, id: &str) -> bool {
        self.base.contains_key(id)
    }

    /// Count and XOR digest of the live local records of a scope (SYNC.md, Pull).
    pub fn checksum(&self, scope: &str) -> (u64, String) {
        let mut count = 0;
        let mut xor = 0u64;
        for (id, r) in &self.local {
            if r.scope == scope && !r.deleted() {
                count += 1;
                xor ^= record_digest(id, r.version.as_deref().unwrap_or(""));
            }
        }
        (count, format!("{xor:016x}"))
    }

    /// Drops a scope's records (not its pending mutations: their mids must still be sent).
    fn forget_scope(&mut self, scope: &str) {
        self.drop_records(scope);
        self.cursors.remove(scope);
        self.last_seq.remove(scope);
    }

    /// Drops the copy of a scope's records and what was acknowledged for them.
    fn drop_records(&mut self, scope: &str) {
        let ids: Vec<String> = self
            .local
            .iter()
            .chain(self.base.iter())
            .filter(|(_, r)| r.scope == scope)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.local.remove(&id);
            self.base.remove(&id);
        }
        self.acked
            .retain(|_, ms| ms.iter().all(|m| m.scope != scope));
    }

    /// Recomputes the local view of a record: base, then acknowledged, then pending.
    fn rebuild(&mut self, id: &str) {
        let pending: Vec<&Mutation> = self
            .outbox
            .iter()
            .filter(|m| m.id == id && self.scopes.contains(&m.scope))
            .collect();
        let acked = self.acked.get(id).map(Vec::as_slice).unwrap_or_default();
        let mut record = match self.base.get(id) {
            Some(b) => b.clone(),
            None => match acked.first().or(pending.first().copied()) {
                Some(m) => empty_record(m),
                None => {
                    self.local.remove(id);
                    return;
                }
            },
        };
        for m in acked.iter().chain(pending.iter().copied()) {
            record.apply(m);
        }
        self.local.insert(id.to_owned(), record);
    }

    /// The live local records of the scopes held, as (entity, scope, fields, version).
    pub fn live(&self) -> BTreeMap<String, (String, String, Map<String, Value>, String)> {
        self.local
            .iter()
            .filter(|(_, r)| !r.deleted())
            .map(|(id, r)| {
                let fields = r.state.fields.clone().into_iter().collect();
                (
                    id.clone(),
                    (
                        r.entity.clone(),
                        r.scope.clone(),
                        fields,
                        r.version.clone().unwrap_or_default(),
                    ),
                )
            })
            .collect()
    }
}

fn empty_record(m: &Mutation) -> LocalRecord {
    LocalRecord {
        entity: m.entity.to_owned(),
        scope: m.scope.clone(),
        state: RecordState::default(),
        version: None,
    }
}
