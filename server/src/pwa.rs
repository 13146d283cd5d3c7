//! The field app, embedded in the binary from `pwa/dist` (built by `build.rs`).
//!
//! Hashed assets under `/assets/` never change and are cached for a year; the service
//! worker, `index.html` and the manifest must be revalidated so an update reaches phones.
//! Any other path that is not a file gets `index.html` (the app routes on the client).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "pwa/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>防诈</title>\
<body><h1>应用界面尚未构建</h1><p>The PWA was not built into this binary. Install Node.js 20+ and npm, \
then rebuild (<code>cargo build</code> runs <code>npm ci && npm run build</code> in <code>pwa/</code>).</p></body></html>";

/// Serves an embedded file or the SPA fallback; unknown `/api` paths get a JSON 404.
pub async fn serve(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    if path == "/api" || path.starts_with("/api/") {
        return Err(ApiError::not_found("接口不存在"));
    }
    let name = path.trim_start_matches('/');
    let (name, file) = match Assets::get(name).filter(|_| !name.is_empty()) {
        Some(file) => (name, file),
        None => {
            // A missing hashed asset is a real 404 (an old page asking for a gone file);
            // other paths are app routes.
            if name.starts_with("assets/") {
                return Ok(HttpResponse::NotFound().finish());
            }
            match Assets::get("index.html") {
                Some(file) => ("index.html", file),
                None => {
                    return Ok(HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(NOT_BUILT));
                }
            }
        }
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else if name == "index.html"
        || name == "sw.js"
        || name == "registerSW.js"
        || name.ends_with(".webmanifest")
        || name.starts_with("workbox-")
    {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    let mime = if name.ends_with(".webmanifest") {
        "application/manifest+json".to_owned()
    } else {
        let m = file.metadata.mimetype();
        if m.starts_with("text/") || m == "application/javascript" {
            format!("{m}; charset=utf-8")
        } else {
            m.to_owned()
        }
    };
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    resp.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CONTENT_TYPE, mime.as_str()));
    if name == "sw.js" {
        resp.insert_header(("Service-Worker-Allowed", HeaderValue::from_static("/")));
    }
    if not_modified {
        Ok(resp.finish())
    } else {
        Ok(resp.body(file.data.into_owned()))
    }
}
