//! One phone's outbox: mutations numbered by mid, made from a seeded generator, and the
//! state the server must end with once all of them are applied (one device, HLCs always
//! increasing, so the last write of each field wins).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// What the server must hold for one record after every mutation.
#[derive(Debug, Clone)]
pub struct Expected {
    /// `household` or `member`.
    pub entity: &'static str,
    /// Every field written, with its last value.
    pub fields: Map<String, Value>,
    /// Deleted by the last delete/restore.
    pub deleted: bool,
}

/// The device: its identity, every mutation it made (index = mid - 1) and the expected end
/// state.
pub struct Device {
    /// The device's `client_id`.
    pub client_id: String,
    /// The grid it writes.
    pub scope: String,
    /// Every mutation so far, in mid order.
    pub outbox: Vec<Value>,
    /// The history entries each mutation must leave, by mid: one per field of a put,
    /// `_delete` or `_restore` for those ops.
    pub history_fields: Vec<Vec<String>>,
    /// Records by id.
    pub expected: BTreeMap<String, Expected>,
    rng: StdRng,
    ms: u64,
    counter: u32,
    households: Vec<String>,
    members: Vec<String>,
}

const STREETS: &[&str] = &["幸福路", "东山大道", "新街", "南塘巷", "学府路"];
const NAMES: &[&str] = &["王丽", "李强", "张秀英", "刘洋", "陈静", "杨军", "赵敏"];
const KINDS: &[&str] = &["registered", "resident", "rental", "vacant"];
const NOTES: &[&str] = &[
    "已讲解反诈知识",
    "家中无人，留下宣传单",
    "已加入网格反诈群",
    "老人独居，建议回访",
];

impl Device {
    /// A device writing `scope`, its mutations drawn from `seed`.
    pub fn new(scope: &str, seed: u64) -> Device {
        Device {
            client_id: uuid::Uuid::now_v7().to_string(),
            scope: scope.to_owned(),
            outbox: Vec::new(),
            history_fields: Vec::new(),
            expected: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
            ms: 0,
            counter: 0,
            households: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Mutations made so far (the last mid).
    pub fn last_mid(&self) -> i64 {
        self.outbox.len() as i64
    }

    /// Makes a batch of 1–`max` new mutations: new households and members, updates of
    /// records made earlier (the merge path), and some deletes and restores of members.
    pub fn make_batch(&mut self, max: usize) {
        let n = self.rng.random_range(1..=max);
        for _ in 0..n {
            let roll = self.rng.random_range(0..100);
            match roll {
                0..30 => self.new_household(),
                30..55 if !self.households.is_empty() => self.new_member(),
                55..90 if !self.households.is_empty() => self.update(),
                90..97 if !self.members.is_empty() => self.delete_or_restore("delete"),
                97..100 if !self.members.is_empty() => self.delete_or_restore("restore"),
                _ => self.new_household(),
            }
        }
    }

    /// A stamp after every earlier one, near the wall clock (so it is never ahead of the
    /// server's by the 10 minutes push refuses).
    fn hlc(&mut self) -> String {
        let now = fangzha::db::now_ms() as u64;
        if now > self.ms {
            self.ms = now;
            self.counter = 0;
        } else if self.counter == 99_999 {
            self.ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        format!("{:015}-{:05}-{}", self.ms, self.counter, self.client_id)
    }

    fn push_put(&mut self, entity: &'static str, id: String, fields: Map<String, Value>) {
        let mid = self.last_mid() + 1;
        let hlc = self.hlc();
        self.outbox
            .push(json!({"mid": mid, "hlc": hlc, "entity": entity, "id": id,
            "scope": self.scope, "op": "put", "fields": fields}));
        self.history_fields.push(fields.keys().cloned().collect());
        let record = self.expected.entry(id).or_insert_with(|| Expected {
            entity,
            fields: Map::new(),
            deleted: false,
        });
        record.fields.extend(fields);
    }

    fn new_household(&mut self) {
        let id = uuid::Uuid::now_v7().to_string();
        let fields = self.household_fields(true);
        self.households.push(id.clone());
        self.push_put("household", id, fields);
    }

    fn household_fields(&mut self, all: bool) -> Map<String, Value> {
        let mut f = Map::new();
        let rng = &mut self.rng;
        if all || rng.random_bool(0.5) {
            f.insert(
                "address".into(),
                json!(format!(
                    "东山村{}组{}{}号",
                    rng.random_range(1..=8),
                    STREETS[rng.random_range(0..STREETS.len())],
                    rng.random_range(1..400)
                )),
            );
        }
        if all || rng.random_bool(0.5) {
            f.insert(
                "kind".into(),
                json!(KINDS[rng.random_range(0..KINDS.len())]),
            );
        }
        if all || f.is_empty() || rng.random_bool(0.5) {
            f.insert(
                "notes".into(),
                json!(format!(
                    "{}（{}）",
                    NOTES[rng.random_range(0..NOTES.len())],
                    rng.random_range(0..10_000)
                )),
            );
        }
        if all {
            f.insert("lat".into(), json!(27.9 + rng.random_range(0.0..0.1)));
            f.insert("lng".into(), json!(110.6 + rng.random_range(0.0..0.1)));
        }
        f
    }

    fn new_member(&mut self) {
        let id = uuid::Uuid::now_v7().to_string();
        let household = self.households[self.rng.random_range(0..self.households.len())].clone();
        let mut fields = self.member_fields(true);
        fields.insert("household_id".into(), json!(household));
        self.members.push(id.clone());
        self.push_put("member", id, fields);
    }

    fn member_fields(&mut self, all: bool) -> Map<String, Value> {
        let mut f = Map::new();
        let rng = &mut self.rng;
        if all || rng.random_bool(0.5) {
            f.insert(
                "name".into(),
                json!(NAMES[rng.random_range(0..NAMES.len())]),
            );
        }
        if all || rng.random_bool(0.5) {
            f.insert("has_smartphone".into(), json!(rng.random_bool(0.7)));
        }
        // A personal field too, so the encrypted path is part of what must survive.
        if rng.random_bool(0.3) {
            f.insert(
                "phone".into(),
                json!(format!("138{:08}", rng.random_range(0..100_000_000u32))),
            );
        }
        if f.is_empty() {
            f.insert("living_at_home".into(), json!(rng.random_bool(0.5)));
        }
        f
    }

    /// A put of some fields of a record made earlier (maybe in an unacknowledged batch:
    /// the outbox is always resent in order, so it exists by then).
    fn update(&mut self) {
        let pick_member = !self.members.is_empty() && self.rng.random_bool(0.4);
        if pick_member {
            let id = self.members[self.rng.random_range(0..self.members.len())].clone();
            let fields = self.member_fields(false);
            self.push_put("member", id, fields);
        } else {
            let id = self.households[self.rng.random_range(0..self.households.len())].clone();
            let fields = self.household_fields(false);
            self.push_put("household", id, fields);
        }
    }

    fn delete_or_restore(&mut self, op: &str) {
        let id = self.members[self.rng.random_range(0..self.members.len())].clone();
        let mid = self.last_mid() + 1;
        let hlc = self.hlc();
        self.outbox
            .push(json!({"mid": mid, "hlc": hlc, "entity": "member", "id": id,
            "scope": self.scope, "op": op}));
        self.history_fields.push(vec![format!("_{op}")]);
        if let Some(record) = self.expected.get_mut(&id) {
            record.deleted = op == "delete";
        }
    }
}
