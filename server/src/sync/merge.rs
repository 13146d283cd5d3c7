//! The merge core: per-field last-writer-wins by HLC, deletion as its own register where
//! the greatest `delete` beats the greatest `restore` only if it is greater. Pure and
//! deterministic, so any order of the same mutations gives the same record.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A record's mergeable state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordState {
    /// Current value of each field.
    pub fields: BTreeMap<String, Value>,
    /// HLC of each field's current value.
    pub hlcs: BTreeMap<String, String>,
    /// Greatest HLC of a `delete`.
    pub delete_hlc: Option<String>,
    /// Greatest HLC of a `restore`.
    pub restore_hlc: Option<String>,
}

/// What a mutation asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set these fields.
    Put(Map<String, Value>),
    /// Delete the record.
    Delete,
    /// Undo deletes older than this.
    Restore,
}

/// The fate of one value of a mutation, for the change history.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Field name, or `_delete` / `_restore`.
    pub field: String,
    /// The value written (null for delete/restore).
    pub value: Value,
    /// Whether it became current.
    pub won: bool,
}

/// History name of a delete.
pub const DELETE: &str = "_delete";
/// History name of a restore.
pub const RESTORE: &str = "_restore";

impl RecordState {
    /// Whether the record is deleted.
    pub fn deleted(&self) -> bool {
        match (&self.delete_hlc, &self.restore_hlc) {
            (Some(d), Some(r)) => d > r,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The greatest HLC anywhere in the record (its version for checksums).
    pub fn max_hlc(&self) -> Option<&str> {
        self.hlcs
            .values()
            .chain(self.delete_hlc.iter())
            .chain(self.restore_hlc.iter())
            .map(String::as_str)
            .max()
    }

    /// Merges one mutation stamped `hlc`. Returns each value's outcome; a value already
    /// present with the same HLC (a replay) is left out.
    pub fn apply(&mut self, op: &Op, hlc: &str) -> Vec<Outcome> {
        match op {
            Op::Put(fields) => fields
                .iter()
                .filter_map(|(name, value)| self.put_field(name, value, hlc))
                .collect(),
            Op::Delete => register(&mut self.delete_hlc, hlc, DELETE)
                .into_iter()
                .collect(),
            Op::Restore => register(&mut self.restore_hlc, hlc, RESTORE)
                .into_iter()
                .collect(),
        }
    }

    fn put_field(&mut self, name: &str, value: &Value, hlc: &str) -> Option<Outcome> {
        let won = match self.hlcs.get(name).map(String::as_str) {
            None => true,
            Some(current) if hlc > current => true,
            Some(current) if hlc < current => false,
            // Same HLC: a replay when the value is the same; otherwise (a client reusing a
            // stamp) the greater serialized value wins so that order never matters.
            Some(_) => {
                let existing = self.fields.get(name).cloned().unwrap_or(Value::Null);
                if existing == *value {
                    return None;
                }
                let (incoming, current) = (value.to_string(), existing.to_string());
                incoming > current
            }
        };
        if won {
            self.fields.insert(name.to_owned(), value.clone());
            self.hlcs.insert(name.to_owned(), hlc.to_owned());
        }
        Some(Outcome {
            field: name.to_owned(),
            value: value.clone(),
            won,
        })
    }
}

fn register(slot: &mut Option<String>, hlc: &str, name: &str) -> Option<Outcome> {
    let won = match slot.as_deref() {
        Some(current) if current == hlc => return None,
        Some(current) => hlc > current,
        None => true,
    };
    if won {
        *slot = Some(hlc.to_owned());
    }
    Some(Outcome {
        field: name.to_owned(),
        value: Value::Null,
        won,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn put(pairs: &[(&str, Value)]) -> Op {
        Op::Put(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn hlc(ms: u64, node: &str) -> String {
        format!("{ms:015}-00000-{node}")
    }

    #[test]
    fn newer_field_wins_and_older_loses() {
        let mut r = RecordState::default();
        r.apply(&put(&[("name", json!("王丽"))]), &hlc(2, "a"));
        let out = r.apply(&put(&[("name", json!("王莉"))]), &hlc(1, "b"));
        assert!(!out[0].won);
        assert_eq!(r.fields["name"], json!("王丽"));
        let out = r.apply(&put(&[("name", json!("王力"))]), &hlc(3, "b"));
        assert!(out[0].won);
        assert_eq!(r.fields["name"], json!("王力"));
    }

    #[test]
    fn delete_wins_over_every_edit_until_a_newer_restore() {
        let mut r = RecordState::default();
        r.apply(&put(&[("a", json!(1))]), &hlc(1, "x"));
        r.apply(&Op::Delete, &hlc(2, "x"));
        r.apply(&put(&[("a", json!(2))]), &hlc(9, "y"));
        assert!(r.deleted(), "a later put does not undelete");
        assert_eq!(r.fields["a"], json!(2), "but its value merges");
        r.apply(&Op::Restore, &hlc(1, "z"));
        assert!(r.deleted(), "an older restore loses");
        r.apply(&Op::Restore, &hlc(3, "z"));
        assert!(!r.deleted());
        assert_eq!(r.fields["a"], json!(2), "restore shows the newest values");
    }

    #[test]
    fn replays_change_nothing_and_report_nothing() {
        let mut r = RecordState::default();
        let op = put(&[("a", json!(1)), ("b", json!("x"))]);
        r.apply(&op, &hlc(5, "d"));
        let before = r.clone();
        assert!(r.apply(&op, &hlc(5, "d")).is_empty());
        assert!(r.apply(&Op::Delete, &hlc(6, "d")).len() == 1);
        assert!(r.apply(&Op::Delete, &hlc(6, "d")).is_empty());
        assert_eq!(r.fields, before.fields);
    }

    fn arb_mutation() -> impl Strategy<Value = (Op, String)> {
        let field = prop::sample::select(vec!["a", "b", "c"]);
        let value = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z]{0,3}".prop_map(|s| json!(s)),
        ];
        let op = prop_oneof![
            4 => prop::collection::btree_map(field, value, 1..3)
                .prop_map(|m| Op::Put(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            1 => Just(Op::Delete),
            1 => Just(Op::Restore),
        ];
        // Few distinct stamps so that ties (same ms, counter, node) happen.
        let stamp = (0u64..6, 0u32..2, prop::sample::select(vec!["n1", "n2"]))
            .prop_map(|(ms, c, n)| format!("{ms:015}-{c:05}-{n}"));
        (op, stamp)
    }

    fn fold(muts: &[(Op, String)]) -> RecordState {
        let mut r = RecordState::default();
        for (op, h) in muts {
            r.apply(op, h);
        }
        r
    }

    proptest! {
        /// Commutative: any permutation of the same mutations gives the same record.
        #[test]
        fn any_order_same_result(muts in prop::collection::vec(arb_mutation(), 0..12), seed in any::<u64>()) {
            let mut shuffled = muts.clone();
            // Deterministic Fisher–Yates from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(fold(&muts), fold(&shuffled));
        }

        /// Idempotent: applying everything twice is applying it once.
        #[test]
        fn applying_twice_is_applying_once(muts in prop::collection::vec(arb_mutation(), 0..12)) {
            let mut twice = muts.clone();
            twice.extend(muts.iter().cloned());
            prop_assert_eq!(fold(&muts), fold(&twice));
        }

        /// Associative: merging in two halves, then the rest, equals one pass.
        #[test]
        fn grouping_does_not_matter(a in prop::collection::vec(arb_mutation(), 0..6),
                                    b in prop::collection::vec(arb_mutation(), 0..6),
                                    c in prop::collection::vec(arb_mutation(), 0..6)) {
            let left: Vec<_> = a.iter().chain(b.iter()).cloned().chain(c.iter().cloned()).collect();
            let mut bc = b.clone();
            bc.extend(c.iter().cloned());
            let right: Vec<_> = a.iter().cloned().chain(bc).collect();
            prop_assert_eq!(fold(&left), fold(&right));
            // And grouped as (c, a) then b — a different association and order.
            let other: Vec<_> = c.iter().chain(a.iter()).chain(b.iter()).cloned().collect();
            prop_assert_eq!(fold(&left), fold(&other));
        }

        /// Every value that won stays current unless a greater HLC replaced it.
        #[test]
        fn current_values_carry_the_greatest_hlc(muts in prop::collection::vec(arb_mutation(), 0..12)) {
            let r = fold(&muts);
            for (op, h) in &muts {
                if let Op::Put(fields) = op {
                    for name in fields.keys() {
                        prop_assert!(r.hlcs[name].as_str() >= h.as_str());
                    }
                }
            }
        }
    }
}
