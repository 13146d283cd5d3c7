//! The records phones and the server exchange: every entity, its fields and their types,
//! and who may write them. The one place push validation happens; domain rules (ID numbers,
//! phones, enums, references) plug in here.

use serde_json::Value;

use crate::domain::account::Role;
use crate::domain::calendar::{self, parse_date};
use crate::domain::identity;
use crate::domain::risk::INDICATOR_CODES;

/// A field's type and the rule its values must pass. `null` is always allowed (it clears).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Free text, at most 2,000 characters.
    Text,
    /// A number within [min, max].
    Number(f64, f64),
    /// A whole number ≥ 0.
    Count,
    /// `true` / `false`.
    Bool,
    /// `YYYY-MM-DD`.
    Date,
    /// ISO 8601 with offset, or Unix milliseconds.
    Time,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// An array of distinct codes from this list.
    Codes(&'static [&'static str]),
    /// A resident ID number (GB 11643) — checked unless the record's `id_type` says otherwise.
    IdNumber,
    /// A mainland mobile number.
    Phone,
    /// The id of a record of this entity, which must exist in a scope the writer holds.
    Ref(&'static str),
    /// A record id of any entity.
    Uuid,
    /// An array of SHA-256 hex digests of uploaded photos.
    Photos,
    /// A JSON array of objects (server-written, e.g. flag reasons).
    List,
}

/// One entity of the sync protocol.
#[derive(Debug)]
pub struct Entity {
    /// Wire name.
    pub name: &'static str,
    /// Fields with their kinds.
    pub fields: &'static [(&'static str, Kind)],
    /// Part of the rental side that police see.
    pub rental_side: bool,
}

const ID_TYPES: &[&str] = &[
    "resident_id",
    "passport",
    "hk_macau_permit",
    "taiwan_permit",
    "foreign_permit",
    "other",
];
const LAT: Kind = Kind::Number(-90.0, 90.0);
const LNG: Kind = Kind::Number(-180.0, 180.0);

/// Every entity.
pub static ENTITIES: &[Entity] = &[
    Entity {
        name: "household",
        rental_side: false,
        fields: &[
            ("address", Kind::Text),
            ("lat", LAT),
            ("lng", LNG),
            (
                "kind",
                Kind::Enum(&["registered", "resident", "rental", "vacant"]),
            ),
            ("head_name", Kind::Text),
            ("group_name", Kind::Text),
            ("leaflet_delivered", Kind::Bool),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "member",
        rental_side: false,
        fields: &[
            ("household_id", Kind::Ref("household")),
            ("name", Kind::Text),
            ("id_type", Kind::Enum(ID_TYPES)),
            ("id_number", Kind::IdNumber),
            ("phone", Kind::Phone),
            ("relation", Kind::Text),
            ("living_at_home", Kind::Bool),
            ("has_smartphone", Kind::Bool),
            ("jzz_registered", Kind::Bool),
            ("jzz_registered_on", Kind::Date),
            (
                "jzz_verified_by",
                Kind::Enum(&["self_report", "seen_on_phone", "police_list"]),
            ),
            ("covered_by", Kind::Ref("member")),
            ("wechat_group_joined", Kind::Bool),
            ("national_app_installed", Kind::Bool),
            ("vulnerable", Kind::Bool),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "rental",
        rental_side: true,
        fields: &[
            ("address", Kind::Text),
            ("lat", LAT),
            ("lng", LNG),
            ("landlord_name", Kind::Text),
            ("landlord_phone", Kind::Phone),
            ("landlord_id_number", Kind::IdNumber),
            ("landlord_on_site", Kind::Bool),
            ("manager_name", Kind::Text),
            ("manager_phone", Kind::Phone),
            ("property_type", Kind::Text),
            ("rooms", Kind::Count),
            ("rent_mode", Kind::Enum(&["long", "short", "daily"])),
            ("payment", Kind::Enum(&["cash", "transfer"])),
            ("written_contract", Kind::Bool),
            ("filed_with_police", Kind::Bool),
            ("occupants_observed", Kind::Count),
            ("status", Kind::Enum(&["let", "vacant", "closed"])),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "tenant",
        rental_side: true,
        fields: &[
            ("rental_id", Kind::Ref("rental")),
            ("name", Kind::Text),
            ("id_type", Kind::Enum(ID_TYPES)),
            ("id_number", Kind::IdNumber),
            ("phone", Kind::Phone),
            ("hukou_place", Kind::Text),
            ("move_in", Kind::Date),
            ("move_out", Kind::Date),
            ("reason", Kind::Text),
            ("occupation", Kind::Text),
            ("workplace", Kind::Text),
            ("primary_lessee", Kind::Bool),
            ("residence_permit", Kind::Bool),
            (
                "id_checked_by",
                Kind::Enum(&["card_reader", "seen_card", "verbal", "none"]),
            ),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "visit",
        rental_side: false,
        fields: &[
            ("target_entity", Kind::Enum(&["household", "rental"])),
            ("target_id", Kind::Uuid),
            (
                "kind",
                Kind::Enum(&["door_to_door", "follow_up", "school_leaflet", "sweep"]),
            ),
            ("outcome", Kind::Enum(&["met", "nobody_home", "refused"])),
            ("visited_at", Kind::Time),
            ("visitors", Kind::Text),
            ("leaflets", Kind::Count),
            ("registrations_helped", Kind::Count),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "inspection",
        rental_side: true,
        fields: &[
            ("rental_id", Kind::Ref("rental")),
            ("indicators", Kind::Codes(INDICATOR_CODES)),
            ("occupants_observed", Kind::Count),
            ("inspected_at", Kind::Time),
            ("inspectors", Kind::Text),
            ("police_present", Kind::Bool),
            // A neighbour's or landlord's tip (F1): who reported it reaches police only.
            ("reporter", Kind::Text),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "publicity",
        rental_side: false,
        fields: &[
            (
                "kind",
                Kind::Enum(&[
                    "banner",
                    "slogan",
                    "red_paper_slogan",
                    "vehicle_run",
                    "broadcast",
                    "display_screen",
                    "meeting",
                    "training",
                    "school_leaflet",
                ]),
            ),
            ("count", Kind::Count),
            ("date", Kind::Date),
            ("compound", Kind::Text),
            ("notes", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "flag",
        rental_side: true,
        fields: &[
            (
                "subject_entity",
                Kind::Enum(&["household", "rental", "tenant", "member"]),
            ),
            ("subject_id", Kind::Uuid),
            (
                "kind",
                Kind::Enum(&[
                    "unregistered_household",
                    "not_visited",
                    "fraud_risk",
                    "duplicate_tenant",
                    "outside_grid",
                ]),
            ),
            ("level", Kind::Enum(&["red", "yellow", "green", "info"])),
            ("score", Kind::Count),
            ("reasons", Kind::List),
            (
                "status",
                Kind::Enum(&["unregistered", "partial", "registered", "exempt"]),
            ),
            ("active", Kind::Bool),
            (
                "state",
                Kind::Enum(&["new", "in_review", "cleared", "confirmed", "referred"]),
            ),
            ("review_note", Kind::Text),
            ("rule_version", Kind::Text),
            ("photos", Kind::Photos),
        ],
    },
    Entity {
        name: "area",
        rental_side: false,
        fields: &[
            ("name", Kind::Text),
            ("level", Kind::Text),
            ("parent_id", Kind::Text),
        ],
    },
];

/// Looks up an entity by wire name.
pub fn entity(name: &str) -> Option<&'static Entity> {
    ENTITIES.iter().find(|e| e.name == name)
}

impl Entity {
    /// The kind of a field, if the entity has it.
    pub fn field(&self, name: &str) -> Option<Kind> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    /// Whether `role` may see records of this entity at all.
    pub fn visible_to(&self, role: Role) -> bool {
        match role {
            Role::Police => self.rental_side,
            _ => true,
        }
    }

    /// Whether `role` may see this record: the entity rule, and for police only the flags of
    /// the rental side (a household's registration flag is not theirs to see).
    pub fn record_visible_to(&self, role: Role, fields: &str) -> bool {
        if !self.visible_to(role) {
            return false;
        }
        if role == Role::Police && self.name == "flag" {
            let fields: serde_json::Map<String, Value> =
                serde_json::from_str(fields).unwrap_or_default();
            return matches!(
                fields.get("subject_entity").and_then(Value::as_str),
                Some("rental" | "tenant")
            );
        }
        true
    }

    /// Whether `role` may write `field` of this entity from a device.
    pub fn writable_by(&self, role: Role, field: &str) -> bool {
        match (self.name, role) {
            ("area", _) => false,
            // Flags are computed by the server; people write only their review.
            ("flag", Role::Police | Role::Admin) => matches!(field, "state" | "review_note"),
            ("flag", _) => false,
            (_, Role::Viewer) => false,
            (_, Role::Police) => self.rental_side,
            _ => true,
        }
    }
}

/// Whether a field is withheld from a role entirely (a tip's reporter from all but police
/// and admins).
pub fn hidden_from(role: Role, entity: &str, field: &str) -> bool {
    entity == "inspection" && field == "reporter" && !sees_full_values(role)
}

/// Fields shown masked to roles that do not need the full value.
pub fn is_sensitive(kind: Kind) -> bool {
    matches!(kind, Kind::IdNumber | Kind::Phone)
}

/// Whether `role` receives full ID numbers and phones (police and admins).
pub fn sees_full_values(role: Role) -> bool {
    matches!(role, Role::Police | Role::Admin)
}

/// The masked form of a sensitive value.
pub fn mask(kind: Kind, value: &str) -> String {
    match kind {
        Kind::IdNumber => identity::mask_id_number(value),
        _ => identity::mask_phone(value),
    }
}

/// A refused value: (code, message).
pub type FieldError = (&'static str, String);

/// Checks a value's type and rule. `id_type` is the record's ID type (for `IdNumber`).
pub fn check_value(kind: Kind, value: &Value, id_type: Option<&str>) -> Result<(), FieldError> {
    let invalid_type = |what: &str| Err(("invalid_type", format!("应为{what}")));
    let invalid_value = |msg: &str| Err(("invalid_value", msg.to_owned()));
    if value.is_null() {
        return Ok(());
    }
    match kind {
        Kind::Text => match value.as_str() {
            Some(s) if s.chars().count() > 2000 => invalid_value("文字过长（最多 2000 字）"),
            Some(s) if s.contains('\0') => invalid_value("文字不能包含空字符"),
            Some(_) => Ok(()),
            None => invalid_type("文字"),
        },
        Kind::Number(min, max) => match value.as_f64() {
            Some(n) if n.is_finite() && (min..=max).contains(&n) => Ok(()),
            Some(_) => Err(("invalid_value", format!("数值应在 {min} 到 {max} 之间"))),
            None => invalid_type("数字"),
        },
        Kind::Count => match value.as_u64() {
            Some(n) if n <= 1_000_000 => Ok(()),
            Some(_) => invalid_value("数量过大"),
            None if value.is_number() => invalid_value("应为不小于 0 的整数"),
            None => invalid_type("整数"),
        },
        Kind::Bool => match value {
            Value::Bool(_) => Ok(()),
            _ => invalid_type("是/否（true 或 false）"),
        },
        Kind::Date => match value.as_str() {
            Some(s) if parse_date(s).is_some() => Ok(()),
            Some(_) => invalid_value("日期格式应为 YYYY-MM-DD，且日期存在"),
            None => invalid_type("日期文字（YYYY-MM-DD）"),
        },
        Kind::Time => match value {
            Value::Number(n) if n.as_u64().is_some() => Ok(()),
            Value::String(s) if is_iso_time(s) => Ok(()),
            Value::String(_) => {
                invalid_value("时间格式应为带时区的 ISO 8601，如 2021-05-18T09:30:00+08:00")
            }
            _ => invalid_type("时间（ISO 8601 文字或毫秒数）"),
        },
        Kind::Enum(options) => match value.as_str() {
            Some(s) if options.contains(&s) => Ok(()),
            Some(_) => Err((
                "invalid_value",
                format!("取值必须是以下之一：{}", options.join("、")),
            )),
            None => invalid_type("文字"),
        },
        Kind::Codes(options) => {
            let Some(items) = value.as_array() else {
                return invalid_type("代码数组");
            };
            let mut seen = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(code) if options.contains(&code) && !seen.contains(&code) => {
                        seen.push(code)
                    }
                    Some(code) if seen.contains(&code) => {
                        return Err(("invalid_value", format!("代码重复：{code}")));
                    }
                    Some(code) => return Err(("invalid_value", format!("未知代码：{code}"))),
                    None => return invalid_type("代码数组"),
                }
            }
            Ok(())
        }
        Kind::IdNumber => match value.as_str() {
            Some(s) if matches!(id_type, None | Some("resident_id")) => {
                identity::check_id_number(s, calendar::today_china())
                    .map_err(|m| ("invalid_value", m.to_owned()))
            }
            Some(s) if s.trim().is_empty() || s.chars().count() > 40 => {
                invalid_value("证件号码长度不正确")
            }
            Some(_) => Ok(()),
            None => invalid_type("文字"),
        },
        Kind::Phone => match value.as_str() {
            Some(s) => identity::check_phone(s).map_err(|m| ("invalid_value", m.to_owned())),
            None => invalid_type("文字"),
        },
        Kind::Ref(_) | Kind::Uuid => match value.as_str() {
            Some(s) if uuid::Uuid::parse_str(s).is_ok() => Ok(()),
            Some(_) => invalid_value("应为记录编号（UUID）"),
            None => invalid_type("记录编号文字"),
        },
        Kind::Photos => {
            let ok = value.as_array().is_some_and(|items| {
                items.len() <= 50
                    && items.iter().all(|i| {
                        i.as_str().is_some_and(|s| {
                            s.len() == 64
                                && s.bytes()
                                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        })
                    })
            });
            if ok {
                Ok(())
            } else {
                invalid_value("照片应为 SHA-256 小写十六进制摘要的数组（最多 50 张）")
            }
        }
        Kind::List => match value {
            Value::Array(items) if items.iter().all(Value::is_object) => Ok(()),
            _ => invalid_type("对象数组"),
        },
    }
}

/// `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)`.
fn is_iso_time(s: &str) -> bool {
    // Everything below slices by byte offsets: a non-ASCII character inside the zone
    // (`+中00`) once put a slice boundary inside it and panicked mid-push.
    if !s.is_ascii() || s.len() < 17 || parse_date(&s[..10]).is_none() {
        return false;
    }
    let rest = &s[10..];
    let Some(rest) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return false;
    };
    let (clock, zone) = if let Some(c) = rest.strip_suffix('Z') {
        (c, "Z")
    } else if rest.len() > 6
        && (rest.as_bytes()[rest.len() - 6] == b'+' || rest.as_bytes()[rest.len() - 6] == b'-')
    {
        rest.split_at(rest.len() - 6)
    } else {
        return false;
    };
    let hm_ok = |t: &str, max: u32| t.len() == 2 && t.parse::<u32>().is_ok_and(|v| v <= max);
    let zone_ok =
        zone == "Z" || (hm_ok(&zone[1..3], 14) && &zone[3..4] == ":" && hm_ok(&zone[4..6], 59));
    let mut parts = clock.split(':');
    let h = parts.next().is_some_and(|p| hm_ok(p, 23));
    let m = parts.next().is_some_and(|p| hm_ok(p, 59));
    let sec = parts.next().is_none_or(|p| {
        let (whole, frac) = p.split_once('.').unwrap_or((p, "0"));
        hm_ok(whole, 60)
            && !frac.is_empty()
            && frac.len() <= 9
            && frac.bytes().all(|b| b.is_ascii_digit())
    });
    h && m && sec && parts.next().is_none() && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sync_md_field_exists() {
        for (entity_name, fields) in [
            ("household", &["address", "lat", "lng", "kind", "notes"][..]),
            (
                "member",
                &[
                    "household_id",
                    "name",
                    "id_number",
                    "phone",
                    "has_smartphone",
                    "jzz_registered",
                    "covered_by",
                ],
            ),
            (
                "rental",
                &[
                    "address",
                    "landlord_name",
                    "landlord_phone",
                    "rooms",
                    "rent_mode",
                    "payment",
                    "written_contract",
                    "occupants_observed",
                ],
            ),
            (
                "tenant",
                &[
                    "rental_id",
                    "name",
                    "id_number",
                    "phone",
                    "move_in",
                    "move_out",
                    "occupation",
                ],
            ),
            (
                "visit",
                &[
                    "target_entity",
                    "target_id",
                    "kind",
                    "outcome",
                    "visited_at",
                    "leaflets",
                ],
            ),
            (
                "inspection",
                &["rental_id", "indicators", "occupants_observed", "notes"],
            ),
            (
                "flag",
                &[
                    "subject_entity",
                    "subject_id",
                    "kind",
                    "level",
                    "score",
                    "reasons",
                    "status",
                    "active",
                    "state",
                    "review_note",
                    "rule_version",
                ],
            ),
        ] {
            let e = entity(entity_name).unwrap();
            for f in fields {
                assert!(e.field(f).is_some(), "{entity_name}.{f}");
            }
            assert!(e.field("photos").is_some());
        }
    }

    #[test]
    fn values() {
        let ok = |k, v: Value| check_value(k, &v, None).is_ok();
        let code = |k, v: Value| check_value(k, &v, None).unwrap_err().0;
        assert!(ok(Kind::Text, json!("幸福路 12 号")));
        assert_eq!(code(Kind::Text, json!(12)), "invalid_type");
        assert!(ok(Kind::Bool, json!(true)));
        assert_eq!(code(Kind::Bool, json!("true")), "invalid_type");
        assert_eq!(code(Kind::Count, json!(-1)), "invalid_value");
        assert_eq!(code(Kind::Count, json!(1.5)), "invalid_value");
        assert!(ok(Kind::Date, json!("2021-05-18")));
        assert_eq!(code(Kind::Date, json!("2021-02-30")), "invalid_value");
        assert!(ok(Kind::Time, json!("2021-05-18T09:30:00+08:00")));
        assert!(ok(Kind::Time, json!("2021-05-18T01:30:00.123Z")));
        assert!(ok(Kind::Time, json!(1_621_301_400_000u64)));
        assert_eq!(
            code(Kind::Time, json!("2021-05-18T09:30:00")),
            "invalid_value"
        );
        assert_eq!(code(Kind::Enum(&["a"]), json!("b")), "invalid_value");
        assert!(ok(Kind::Codes(INDICATOR_CODES), json!(["A1", "C2"])));
        assert_eq!(
            code(Kind::Codes(INDICATOR_CODES), json!(["A1", "A1"])),
            "invalid_value"
        );
        assert_eq!(
            code(Kind::Codes(INDICATOR_CODES), json!(["Z9"])),
            "invalid_value"
        );
        assert_eq!(code(Kind::Phone, json!("1381234567")), "invalid_value");
        assert_eq!(
            code(Kind::IdNumber, json!("110105194912310021")),
            "invalid_value"
        );
        assert!(check_value(Kind::IdNumber, &json!("E12345678"), Some("passport")).is_ok());
        assert!(ok(Kind::Photos, json!(["a".repeat(64)])));
        assert_eq!(code(Kind::Photos, json!(["A".repeat(64)])), "invalid_value");
        assert!(ok(Kind::Phone, Value::Null), "null clears");
        assert_eq!(code(Kind::Number(-90.0, 90.0), json!(91)), "invalid_value");
    }

    /// Regression: a multi-byte character where the zone's digits belong panicked on a
    /// byte slice inside it, mid-push (found writing the push fuzz target, `fuzz/`).
    #[test]
    fn times_with_non_ascii_characters_are_refused() {
        for bad in [
            "2021-05-18T09:30+中00",
            "2021-05-18T09:30:00+0中",
            "2021-05-18T09:中:00Z",
            "2021-05-18T09:30:00.１Z",
            "２021-05-18T09:30:00Z",
        ] {
            assert_eq!(
                check_value(Kind::Time, &json!(bad), None).unwrap_err().0,
                "invalid_value",
                "{bad}"
            );
        }
    }

    #[test]
    fn who_writes_what() {
        let flag = entity("flag").unwrap();
        assert!(flag.writable_by(Role::Police, "state"));
        assert!(!flag.writable_by(Role::Police, "level"));
        assert!(!flag.writable_by(Role::GridWorker, "state"));
        let household = entity("household").unwrap();
        assert!(household.writable_by(Role::GridWorker, "address"));
        assert!(!household.writable_by(Role::Police, "address"));
        assert!(!household.visible_to(Role::Police));
        assert!(!household.writable_by(Role::Viewer, "address"));
        assert!(entity("tenant").unwrap().writable_by(Role::Police, "name"));
    }

    /// The phone app validates with the same table of cases (pwa/tests/validation.test.ts):
    /// both sides must agree on every one.
    #[test]
    fn the_shared_validation_table_holds_on_the_server() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/validation_cases.json"
        );
        let text = std::fs::read_to_string(path).expect("validation_cases.json");
        let cases: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for case in &cases {
            let entity = entity(case["entity"].as_str().unwrap()).expect("known entity");
            let kind = entity
                .field(case["field"].as_str().unwrap())
                .unwrap_or_else(|| panic!("unknown field in {case}"));
            let got = check_value(kind, &case["value"], None);
            match case["ok"].as_bool().unwrap() {
                true => assert!(got.is_ok(), "{case}: {got:?}"),
                false => {
                    let (code, _) = got.expect_err(&case.to_string());
                    if let Some(want) = case["code"].as_str() {
                        assert_eq!(code, want, "{case}");
                    }
                }
            }
        }
    }
}
