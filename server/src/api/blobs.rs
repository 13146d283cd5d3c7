//! Photo routes (SYNC.md "Photos and other blobs"): `POST /api/blobs/missing`, the tus 1.0
//! upload endpoints under `/api/blobs/tus`, `PUT /api/blobs/{sha256}` and
//! `GET /api/blobs/{sha256}?variant=thumb|display`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthUser;
use crate::db::{self, DbConn, blobs};
use crate::domain::account::Role;
use crate::error::{ApiError, ApiResult};
use crate::media::process::{self, ProcessError};
use crate::media::store::Variant;
use crate::media::tus::{self, UploadId, UploadInfo};
use crate::media::{Digest, refusal};
use crate::state::AppState;
use crate::sync::entities;
use crate::sync::scopes::{Access, AreaTree};

/// The tus protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// Status tus clients expect for a failed checksum (the checksum extension's 460).
const CHECKSUM_MISMATCH: u16 = 460;
/// Most digests in one `missing` question.
const MAX_MISSING: usize = 1000;
/// Bytes buffered before each write of a PATCH body to disk.
const WRITE_CHUNK: usize = 256 * 1024;
/// Variants never change under their name: cache them for a year.
const CACHE_FOREVER: &str = "private, max-age=31536000, immutable";

/// The digests among `digests` that this user may read: some record in a scope they hold now,
/// of an entity their role sees, refers to it.
pub fn readable(
    conn: &mut DbConn,
    user: &AuthUser,
    digests: &[String],
) -> diesel::QueryResult<BTreeSet<String>> {
    let refs = blobs::active_refs(conn, digests)?;
    if refs.is_empty() {
        return Ok(BTreeSet::new());
    }
    let tree = AreaTree::load(conn)?;
    let access = Access::load(conn, &user.id, user.role, &tree)?;
    Ok(refs
        .into_iter()
        .filter(|(_, entity, scope)| {
            access.current().contains(scope)
                && entities::entity(entity).is_some_and(|e| e.visible_to(user.role))
        })
        .map(|(digest, _, _)| digest)
        .collect())
}

/// Only roles that write records upload photos for them.
fn require_uploader(user: &AuthUser) -> ApiResult<()> {
    if user.role == Role::Viewer {
        Err(ApiError::forbidden())
    } else {
        Ok(())
    }
}

/// `POST /api/blobs/missing` body.
#[derive(Debug, Deserialize)]
pub struct MissingRequest {
    /// Digests the device holds.
    pub hashes: Vec<String>,
}

/// `POST /api/blobs/missing`: the digests this user should upload. A digest stored but
/// referred to only outside the user's scopes is reported missing, like one never seen, so
/// the answer tells nothing about other scopes.
pub async fn missing(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<MissingRequest>,
) -> ApiResult<HttpResponse> {
    let asked = body.into_inner().hashes;
    if asked.len() > MAX_MISSING {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("一次最多查询 {MAX_MISSING} 张照片"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut digests = Vec::new();
    for h in &asked {
        Digest::parse_or_400(h).map_err(|e| e.with("field", "hashes"))?;
        if seen.insert(h.clone()) {
            digests.push(h.clone());
        }
    }
    let query = digests.clone();
    let (stored, readable) = db::run(&state.pool, move |conn| {
        let stored = blobs::stored(conn, &query)?;
        let readable = readable(conn, &user, &query)?;
        Ok((stored, readable))
    })
    .await?;
    let missing: Vec<String> = digests
        .into_iter()
        .filter(|d| !(stored.contains(d) && readable.contains(d)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "missing": missing })))
}

/// `PUT /api/blobs/{sha256}`: the whole photo in one body.
pub async fn put(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_uploader(&user)?;
    let digest = Digest::parse_or_400(&path)?;
    let media = &state.media;
    if content_length(&req).is_some_and(|n| n > media.max_bytes) {
        return Err(media.too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("upload_interrupted", format!("上传中断：{e}")))?;
        if (body.len() + chunk.len()) as u64 > media.max_bytes {
            return Err(media.too_large());
        }
        body.extend_from_slice(&chunk);
    }
    media
        .ingest(
            &state.pool,
            &state.metrics,
            &digest,
            body,
            StatusCode::BAD_REQUEST,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "sha256": digest.as_str() })))
}

/// `GET /api/blobs/{sha256}` query.
#[derive(Debug, Deserialize)]
pub struct GetQuery {
    /// `display` (default) or `thumb`.
    pub variant: Option<String>,
}

/// `GET /api/blobs/{sha256}?variant=…`: a processed variant, to users whose scopes hold a
/// record that refers to it; 404 to everyone else, the same as for a digest never stored.
pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<GetQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let digest = Digest::parse_or_400(&path)?;
    let variant = match query.variant.as_deref() {
        None => Variant::Display,
        Some(v) => Variant::parse(v).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "variant 只能是 display 或 thumb")
        })?,
    };
    let key = digest.as_str().to_owned();
    let row = db::run(&state.pool, move |conn| {
        if readable(conn, &user, std::slice::from_ref(&key))?.is_empty() {
            return Ok(None);
        }
        Ok(blobs::get(conn, &key)?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("照片不存在"))?;
    let total = match variant {
        Variant::Display => row.display_bytes,
        Variant::Thumb => row.thumb_bytes,
    }
    .max(0) as u64;
    let etag = format!("\"{digest}-{}\"", variant.as_str());
    let cached = |mut b: actix_web::HttpResponseBuilder| {
        b.insert_header((header::ETAG, etag.clone()))
            .insert_header((header::CACHE_CONTROL, CACHE_FOREVER));
        b
    };
    if header_str(&req, header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &etag)) {
        return Ok(cached(HttpResponse::NotModified()).finish());
    }
    let range = header_str(&req, header::RANGE)
        .filter(|_| header_str(&req, header::IF_RANGE).is_none_or(|v| v.trim() == etag))
        .map_or(RangeRequest::Full, |r| parse_range(r, total));
    let mut resp = match range {
        RangeRequest::Full => {
            let bytes = state.media.store.get(&digest, variant).await?;
            let mut b = cached(HttpResponse::Ok());
            b.content_type("image/jpeg");
            return Ok(b
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .body(bytes));
        }
        RangeRequest::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "请求的字节范围超出照片大小",
            )
            .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{total}"))
                    .context("content-range header")?,
            );
            r
        }
        RangeRequest::Part(start, end) => {
            let bytes = state
                .media
                .store
                .get_range(&digest, variant, start..end + 1)
                .await?;
            let mut b = cached(HttpResponse::PartialContent());
            b.content_type("image/jpeg")
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .insert_header((
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{total}"),
                ));
            b.body(bytes)
        }
    };
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(resp)
}

/// A `Range` header as this server answers it.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No usable single range: the whole variant (RFC 9110 lets a server ignore `Range`).
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// The range starts past the end: 416.
    Unsatisfiable,
}

fn parse_range(header: &str, total: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match parsed(b) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if total == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(total.saturating_sub(n), total - 1),
            None => RangeRequest::Full,
        },
        (false, true) => match parsed(a) {
            Some(s) if s >= total => RangeRequest::Unsatisfiable,
            Some(s) => RangeRequest::Part(s, total - 1),
            None => RangeRequest::Full,
        },
        (false, false) => match (parsed(a), parsed(b)) {
            (Some(s), Some(e)) if s <= e => {
                if s >= total {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Part(s, e.min(total - 1))
                }
            }
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}

/// `If-None-Match` against our strong tag (weak comparison, as RFC 9110 asks for it).
fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name)?.to_str().ok()
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    header_str(req, header::CONTENT_LENGTH)?.trim().parse().ok()
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

// --- tus 1.0 (core, creation, termination) ---

/// 412 with the versions spoken, unless the request speaks tus 1.0.0.
fn tus_version_refused(req: &HttpRequest) -> Option<HttpResponse> {
    if header_str(req, header::HeaderName::from_static("tus-resumable")) == Some(TUS_VERSION) {
        return None;
    }
    let mut r = ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "tus_version_unsupported",
        "上传协议版本不受支持（需要 Tus-Resumable: 1.0.0）",
    )
    .into_response();
    r.headers_mut().insert(
        header::HeaderName::from_static("tus-version"),
        HeaderValue::from_static(TUS_VERSION),
    );
    Some(r)
}

fn upload_not_found() -> ApiError {
    ApiError::not_found("上传不存在或已过期，请重新开始上传")
}

/// The caller's upload, or 404 (also for another user's: its existence is not theirs).
async fn own_upload(
    state: &web::Data<AppState>,
    user: &AuthUser,
    raw_id: &str,
) -> ApiResult<(UploadId, UploadInfo, u64)> {
    let id = UploadId::parse(raw_id).ok_or_else(upload_not_found)?;
    let st = state.clone();
    let probe = id.clone();
    let found = web::block(move || st.media.uploads.get(&probe))
        .await?
        .context("reading an upload")?;
    match found {
        Some((info, offset)) if info.user_id == user.id => Ok((id, info, offset)),
        _ => Err(upload_not_found()),
    }
}

/// `OPTIONS /api/blobs/tus`: what this server supports (no sign-in needed, as tus clients
/// probe before they authenticate).
pub async fn tus_options(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", "creation,termination"))
        .insert_header(("Tus-Max-Size", state.media.max_bytes.to_string()))
        .finish()
}

/// `POST /api/blobs/tus`: creates an upload of `Upload-Length` bytes for the digest in
/// `Upload-Metadata` (`sha256 <base64 of the hex digest>`).
pub async fn tus_create(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(r) = tus_version_refused(&req) {
        return Ok(r);
    }
    require_uploader(&user)?;
    let length: u64 = header_str(&req, header::HeaderName::from_static("upload-length"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_request", "缺少有效的 Upload-Length（字节数）")
        })?;
    if length > state.media.max_bytes {
        return Err(state.media.too_large());
    }
    let sha256 = header_str(&req, header::HeaderName::from_static("upload-metadata"))
        .and_then(tus::parse_metadata)
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "sha256"))
        .and_then(|(_, v)| String::from_utf8(v).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_digest",
                "Upload-Metadata 需包含 sha256（十六进制摘要的 base64）",
            )
        })?;
    let digest = Digest::parse_or_400(&sha256)?;
    let info = UploadInfo {
        user_id: user.id.clone(),
        length,
        sha256: digest.as_str().to_owned(),
        created_at_ms: db::now_ms(),
    };
    let st = state.clone();
    let id = web::block(move || st.media.uploads.create(&info))
        .await?
        .context("creating an upload")?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/blobs/tus/{}", id.as_str())))
        .finish())
}

/// `HEAD /api/blobs/tus/{id}`: how many bytes the server has, to resume from.
pub async fn tus_head(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(r) = tus_version_refused(&req) {
        return Ok(r);
    }
    let (_, info, offset) = own_upload(&state, &user, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Length", info.length.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `DELETE /api/blobs/tus/{id}`: abandons an upload (termination extension).
pub async fn tus_delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(r) = tus_version_refused(&req) {
        return Ok(r);
    }
    let id = UploadId::parse(&path).ok_or_else(upload_not_found)?;
    let _lock = state.media.uploads.lock(&id).ok_or_else(busy)?;
    let (id, _, _) = own_upload(&state, &user, id.as_str()).await?;
    let st = state.clone();
    web::block(move || st.media.uploads.remove(&id))
        .await?
        .context("removing an upload")?;
    Ok(HttpResponse::NoContent().finish())
}

fn busy() -> ApiError {
    ApiError::conflict("upload_busy", "该照片正在上传，请稍后再试")
}

/// Appends `buf` to the upload's file off the async threads; returns the bytes written.
async fn append(file: &mut Option<fs::File>, buf: &mut Vec<u8>, sync: bool) -> ApiResult<u64> {
    let Some(mut f) = file.take() else {
        return Err(anyhow::anyhow!("upload file already closed").into());
    };
    let data = std::mem::take(buf);
    let (f, mut data, result) = web::block(move || {
        let mut r = f.write_all(&data);
        if r.is_ok() && sync {
            r = f.sync_data();
        }
        (f, data, r)
    })
    .await?;
    result.context("appending to an upload")?;
    let n = data.len() as u64;
    data.clear();
    *buf = data;
    *file = Some(f);
    Ok(n)
}

/// `PATCH /api/blobs/tus/{id}`: bytes at `Upload-Offset`. Whatever arrives is kept, also
/// when the connection drops, so the client resumes from the offset `HEAD` reports. The
/// last byte triggers verification and processing; a refused photo ends the upload.
pub async fn tus_patch(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    if let Some(r) = tus_version_refused(&req) {
        return Ok(r);
    }
    if header_str(&req, header::CONTENT_TYPE) != Some("application/offset+octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "PATCH 需使用 Content-Type: application/offset+octet-stream",
        ));
    }
    let claimed: u64 = header_str(&req, header::HeaderName::from_static("upload-offset"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_request", "缺少有效的 Upload-Offset"))?;
    // Locked before the offset is read, so a PATCH still writing cannot move it underneath.
    let id = UploadId::parse(&path).ok_or_else(upload_not_found)?;
    let _lock = state.media.uploads.lock(&id).ok_or_else(busy)?;
    let (id, info, offset) = own_upload(&state, &user, id.as_str()).await?;
    if claimed != offset {
        return Err(ApiError::conflict(
            "offset_mismatch",
            format!("上传位置不一致：服务器已收到 {offset} 字节"),
        )
        .with("offset", offset));
    }
    if content_length(&req).is_some_and(|n| offset + n > info.length) {
        return Err(overflow());
    }
    let media = &state.media;
    let data_path = media.uploads.data_path(&id);
    let mut file = Some(
        web::block(move || fs::OpenOptions::new().append(true).open(data_path))
            .await?
            .context("opening an upload")?,
    );
    let mut buf = Vec::with_capacity(WRITE_CHUNK);
    let mut written = offset;
    let mut sniffed = offset > 0;
    let mut interrupted = None;
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                interrupted = Some(e);
                break;
            }
        };
        if written + (buf.len() + chunk.len()) as u64 > info.length {
            remove_upload(&state, &id).await;
            return Err(overflow());
        }
        buf.extend_from_slice(&chunk);
        // Refuse a HEIC at its first bytes instead of after megabytes over a weak link.
        if !sniffed && buf.len() >= 16 {
            sniffed = true;
            if let Err(e @ ProcessError::Unsupported { .. }) = process::sniff(&buf) {
                remove_upload(&state, &id).await;
                return Err(refusal(e));
            }
        }
        if buf.len() >= WRITE_CHUNK {
            written += append(&mut file, &mut buf, false).await?;
        }
    }
    written += append(&mut file, &mut buf, true).await?;
    drop(file);
    if let Some(e) = interrupted {
        tracing::info!(upload = id.as_str(), written, error = %e, "upload interrupted");
        return Err(ApiError::bad_request(
            "upload_interrupted",
            format!("上传中断，已收到 {written} 字节，可从此处继续"),
        ));
    }
    if written < info.length {
        return Ok(offset_response(written));
    }
    let st = state.clone();
    let read_id = id.clone();
    let bytes = web::block(move || fs::read(st.media.uploads.data_path(&read_id)))
        .await?
        .context("reading a finished upload")?;
    let digest = Digest::parse_or_400(&info.sha256)?;
    let mismatch = StatusCode::from_u16(CHECKSUM_MISMATCH).context("status 460")?;
    match media
        .ingest(&state.pool, &state.metrics, &digest, bytes, mismatch)
        .await
    {
        Ok(_) => {
            remove_upload(&state, &id).await;
            Ok(offset_response(written))
        }
        Err(e) => {
            // A refused photo will not become acceptable by retrying; a server fault might,
            // so the bytes stay for a retry of this last PATCH.
            if matches!(&e, ApiError::Http { status, .. } if status.is_client_error()) {
                remove_upload(&state, &id).await;
            }
            Err(e)
        }
    }
}

fn offset_response(offset: u64) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Upload-Offset", offset.to_string()))
        .finish()
}

fn overflow() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "上传内容超出了创建时声明的 Upload-Length",
    )
}

async fn remove_upload(state: &web::Data<AppState>, id: &UploadId) {
    let st = state.clone();
    let id = id.clone();
    let removed = web::block(move || st.media.uploads.remove(&id)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!("could not remove a finished upload: {removed:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-200", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=95-", 100), Part(95, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=x-", 100), Full);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let tag = "\"abc-thumb\"";
        assert!(etag_matches("\"abc-thumb\"", tag));
        assert!(etag_matches("W/\"abc-thumb\", \"x\"", tag));
        assert!(etag_matches("*", tag));
        assert!(!etag_matches("\"abc-display\"", tag));
    }
}
