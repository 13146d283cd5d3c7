//! What a role receives of a stored record: personal values decrypted, then masked for roles
//! that do not need them in full; a tip's reporter withheld from all but police and admins.
//! Full values handed out are reported so the caller can write the access log.

use serde_json::{Map, Value};

use super::entities::{self, Entity};
use super::write::open_value;
use crate::crypto::FieldCipher;
use crate::domain::account::Role;

/// The fields of a record as `role` may see them, and the names of fields delivered in full
/// personal form (for the access log).
pub fn present(
    cipher: &FieldCipher,
    role: Role,
    entity: &Entity,
    stored: Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let full = entities::sees_full_values(role);
    let mut delivered = Vec::new();
    let fields = stored
        .into_iter()
        .filter(|(name, _)| !entities::hidden_from(role, entity.name, name))
        .map(|(name, value)| {
            let value = present_value(cipher, role, entity, &name, value);
            if full && value.is_string() && entity.field(&name).is_some_and(entities::is_sensitive)
            {
                delivered.push(name.clone());
            }
            (name, value)
        })
        .collect();
    (fields, delivered)
}

/// One stored value as `role` may see it.
pub fn present_value(
    cipher: &FieldCipher,
    role: Role,
    entity: &Entity,
    field: &str,
    value: Value,
) -> Value {
    let value = open_value(cipher, entity.name, field, value);
    match (entity.field(field), value.as_str()) {
        (Some(kind), Some(s))
            if entities::is_sensitive(kind) && !entities::sees_full_values(role) =>
        {
            Value::String(entities::mask(kind, s))
        }
        _ => value,
    }
}
