//! `POST /api/admin/imports/{kind}` (the file as the raw body) → 202 with the job, and
//! `GET /api/admin/imports/{id}` → the job's state, progress, per-row errors and result.
//! Admin only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::AdminUser;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::imports::{self, Format, Input, Kind, jobs};
use crate::state::AppState;

/// Query of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `csv`, `xlsx` or `geojson` when the `Content-Type` does not say.
    format: Option<String>,
    /// Default village (id or name) for rows that name none.
    village: Option<String>,
    /// Validate only; nothing is written.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/admin/imports/{kind}`: reads the body (up to `import_max_bytes`), records the
/// job and runs it on a blocking thread; answers 202 with the job at once.
pub async fn start(
    admin: AdminUser,
    state: web::Data<AppState>,
    kind: web::Path<String>,
    query: web::Query<ImportQuery>,
    req: HttpRequest,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = Kind::parse(&kind).ok_or_else(|| {
        ApiError::not_found(
            "没有这种导入：可导入 households（住户名册）、boundaries（网格边界）、users（账号）",
        )
    })?;
    let limit = state.settings.import_max_bytes;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("无法读取上传的文件：{e}"))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("文件过大（上限 {} MB），请拆分后导入", limit / 1024 / 1024),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_file",
            "请求体为空：请把文件内容作为请求体上传",
        ));
    }
    let query = query.into_inner();
    let format = match &query.format {
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "format 必须是 csv、xlsx 或 geojson")
                .with("field", "format")
        })?,
        None => req
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_content_type)
            .filter(|f| *f != Format::Csv || !bytes.starts_with(b"PK\x03\x04"))
            .unwrap_or_else(|| Format::sniff(&bytes)),
    };
    let input = Input {
        kind,
        format,
        bytes: bytes.to_vec(),
        village: query.village.filter(|v| !v.trim().is_empty()),
        dry_run: query.dry_run,
        user_id: admin.0.id.clone(),
    };
    let id = uuid::Uuid::now_v7().to_string();
    let row = jobs::new_row(&id, &input);
    let stored = row.clone();
    db::run(&state.pool, move |conn| {
        Ok(db::imports::insert(conn, &stored)?)
    })
    .await?;
    let progress = state.imports.register(&id);
    let st = state.clone();
    let job_id = id.clone();
    actix_web::rt::spawn(async move {
        let worker = st.clone();
        let p = progress.clone();
        let done =
            actix_web::rt::task::spawn_blocking(move || -> Result<imports::Report, String> {
                let _turn = worker.imports.turn();
                let mut conn = worker.pool.get().map_err(|e| e.to_string())?;
                imports::run(&mut conn, &worker.sync, &input, &p).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("import task panicked: {e}")));
        if let Err(e) = &done {
            tracing::error!(job = %job_id, error = %e, "import failed");
        }
        let store = st.clone();
        let id = job_id.clone();
        let stored = db::run(&st.pool, move |conn| {
            Ok(jobs::store_outcome(conn, &store.sync.cipher, &id, &done)?)
        })
        .await;
        if let Err(e) = stored {
            tracing::error!(job = %job_id, error = %e, "storing the import outcome failed");
        }
        st.imports.finish(&job_id);
    });
    let live = state.imports.progress(&id);
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/admin/imports/{id}")))
        .json(jobs::view(&row, live.as_deref(), None)))
}

/// `GET /api/admin/imports/{id}`: the job. Generated passwords are in the first answer
/// after the job is done, to the admin who started it, and erased from the server then.
pub async fn status(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let st = state.clone();
    let reader = admin.0.id.clone();
    let (row, passwords) = db::run(&state.pool, move |conn| {
        let row =
            db::imports::get(conn, &id)?.ok_or_else(|| ApiError::not_found("导入任务不存在"))?;
        // Only a finished job with passwords to hand out needs a write (a running import
        // may hold SQLite's write lock for a while; polling must not wait for it).
        if row.user_id != reader || row.state == "running" || row.secrets.is_none() {
            return Ok((row, None));
        }
        let passwords = db::write_tx(conn, |conn| {
            let taken = db::imports::take_secrets(conn, &row.id)?;
            if taken.is_some() {
                crate::db::audit::record(
                    conn,
                    &crate::db::audit::NewEntry::new(Some(&reader), "import_passwords_delivered")
                        .target("import_job", &row.id),
                )?;
            }
            Ok::<_, ApiError>(taken)
        })?
        .and_then(|s| st.sync.cipher.decrypt(&s))
        .and_then(|s| serde_json::from_str::<Value>(&s).ok());
        Ok((row, passwords))
    })
    .await?;
    let live = state.imports.progress(&row.id);
    Ok(HttpResponse::Ok().json(jobs::view(&row, live.as_deref(), passwords)))
}
