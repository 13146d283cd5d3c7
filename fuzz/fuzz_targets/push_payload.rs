//! A push body as the server receives it: JSON → `PushRequest` → batch checks → each
//! mutation's envelope → each field's type and rule (`entities::check_value`) and the masks
//! shown to roles without full values. Nothing may panic, whatever the bytes.
#![no_main]

use fangzha::sync::entities::{self, Kind};
use fangzha::sync::merge::Op;
use fangzha::sync::push::{self, PushRequest};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A fixed "now" (2026-12-01T00:00:00Z) so a run is reproducible.
const NOW_MS: i64 = 1_796_083_200_000;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<PushRequest>(data) else {
        return;
    };
    let _ = push::check_batch(&req, NOW_MS);
    for m in &req.mutations {
        let Ok(parsed) = push::parse_mutation(m, &req.client_id) else {
            continue;
        };
        let Op::Put(fields) = &parsed.op else {
            continue;
        };
        let id_type = fields.get("id_type").and_then(Value::as_str);
        for (name, value) in fields {
            let Some(kind) = parsed.entity.field(name) else {
                continue;
            };
            let checked = entities::check_value(kind, value, id_type);
            if entities::is_sensitive(kind)
                && let Some(s) = value.as_str()
            {
                let masked = entities::mask(kind, s);
                assert_eq!(masked.chars().count(), s.chars().count());
            }
            if checked.is_ok() && matches!(kind, Kind::IdNumber) && id_type.is_none() {
                // An accepted resident ID is 18 ASCII characters.
                assert_eq!(value.as_str().map_or(18, str::len), 18);
            }
        }
    }
});
