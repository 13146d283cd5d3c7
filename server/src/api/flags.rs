//! `POST /api/flags/{id}/review`: police and admins record their decision on a flag from a
//! desk, through the same merge as a device's push (so every review stays in history).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::AuthUser;
use crate::db::audit::{self, NewEntry};
use crate::db::records::SeqAllocator;
use crate::db::{self, now_ms};
use crate::domain::account::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::sync::entities::{self, Kind};
use crate::sync::hlc::Hlc;
use crate::sync::merge::Op;
use crate::sync::scopes::{Access, AreaTree};
use crate::sync::view;
use crate::sync::write::{self, Target, Writer};

/// A review.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    state: String,
    review_note: Option<String>,
}

/// `POST /api/flags/{id}/review` → 200 with the flag.
pub async fn review(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ReviewBody>,
) -> ApiResult<HttpResponse> {
    user.require(&[Role::Police, Role::Admin])?;
    let body = body.into_inner();
    let flag = entities::entity("flag").ok_or_else(|| anyhow::anyhow!("flag entity missing"))?;
    let mut fields = Map::new();
    fields.insert("state".into(), json!(body.state));
    if let Some(note) = body.review_note {
        fields.insert("review_note".into(), json!(note));
    }
    for (name, value) in &fields {
        let kind = flag.field(name).unwrap_or(Kind::Text);
        entities::check_value(kind, value, None).map_err(|(code, message)| {
            ApiError::bad_request(code, message).with("field", name.as_str())
        })?;
    }
    let st = state.clone();
    let id = id.into_inner();
    let (row, role) = db::run_tx(&state.pool, move |conn| {
        // Lock the flag's scope, then read it: a concurrent write cannot slip in between.
        let mut seqs = SeqAllocator::default();
        if let Some(found) = db::records::get(conn, &id)? {
            seqs.lock(conn, &found.scope)?;
        }
        let existing = db::records::get(conn, &id)?.filter(|r| r.entity == "flag" && !r.deleted);
        let tree = AreaTree::load(conn)?;
        let access = Access::load(conn, &user.id, user.role, &tree)?;
        let Some(existing) = existing.filter(|r| {
            access.current().contains(&r.scope) && flag.record_visible_to(user.role, &r.fields)
        }) else {
            return Err(ApiError::not_found("提示不存在"));
        };
        let now = now_ms();
        // The review must order after everything the flag holds, whatever the clock did.
        if let Some(seen) = Hlc::parse(&existing.version) {
            st.sync
                .clock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(&seen, now as u64);
        }
        let hlc = st.sync.tick(now);
        let scope = existing.scope.clone();
        let target = Target {
            entity: "flag",
            id: &id,
            scope: &scope,
        };
        let writer = Writer {
            user_id: Some(&user.id),
            client_id: "web",
            mid: None,
        };
        let row = write::apply(
            conn,
            &mut seqs,
            &st.sync.cipher,
            Some(existing),
            target,
            &Op::Put(fields.clone()),
            &hlc,
            writer,
            now,
        )?;
        seqs.finish(conn)?;
        audit::record(
            conn,
            &NewEntry::new(Some(&user.id), "flag_reviewed")
                .target("flag", &id)
                .detail(Value::Object(fields)),
        )?;
        Ok((row, user.role))
    })
    .await?;
    let stored: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let (fields, _) = view::present(&state.sync.cipher, role, flag, stored);
    Ok(HttpResponse::Ok().json(json!({
        "id": row.id, "scope": row.scope, "seq": row.seq, "fields": fields,
    })))
}
