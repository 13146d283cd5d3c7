//! Photos (SYNC.md "Photos and other blobs"): uploads are named by the SHA-256 of their bytes,
//! verified, processed on a bounded pool into metadata-free `display` and `thumb` JPEGs, and
//! kept in an object store; the uploaded bytes themselves are never kept.
//!
//! `process` is the pure image work, `store` the object store, `tus` the resumable partial
//! uploads on disk; [`Media::ingest`] ties them together for both upload routes.

pub mod gc;
pub mod process;
pub mod store;
pub mod tus;

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use anyhow::Context;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::db::blobs::{self, BlobRow};
use crate::db::{self, Pool};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use process::{ProcessError, Processed};
use store::{BlobStore, Variant};
use tus::Uploads;

/// A photo's name: the SHA-256 of the uploaded bytes as 64 lowercase hex characters. Only
/// values that passed [`Digest::parse`] exist, so one can safely name files and objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Accepts exactly 64 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Digest> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Digest(s.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(hex::encode(Sha256::digest(bytes)))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// [`Digest::parse`] as a 400 `invalid_digest`.
    pub fn parse_or_400(s: &str) -> ApiResult<Digest> {
        Digest::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_digest",
                "照片编号应为 64 位小写十六进制的 SHA-256 摘要",
            )
        })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an accepted upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Processed and stored now.
    Stored,
    /// Already stored (by this or another user): nothing was written again.
    Duplicate,
}

/// Everything the photo routes share: store, partial uploads, the processing pool.
pub struct Media {
    /// The variants' object store.
    pub store: BlobStore,
    /// Partial tus uploads.
    pub uploads: Uploads,
    /// Bounds concurrent decodes: each may hold up to 256 MiB.
    workers: Arc<Semaphore>,
    /// Largest upload, in bytes.
    pub max_bytes: u64,
    keep_gps: bool,
}

impl Media {
    /// Opens the store and the uploads directory from settings.
    pub fn open(settings: &Settings) -> anyhow::Result<Media> {
        let photos = &settings.photos;
        let workers = photos
            .workers
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let uploads_dir = settings.data_dir.join("uploads");
        Ok(Media {
            store: BlobStore::open(photos, &settings.data_dir)?,
            uploads: Uploads::open(uploads_dir.clone())
                .with_context(|| format!("creating {}", uploads_dir.display()))?,
            workers: Arc::new(Semaphore::new(workers)),
            max_bytes: photos.max_bytes,
            keep_gps: photos.keep_gps,
        })
    }

    /// 413 for a body over the photo size limit.
    pub fn too_large(&self) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "照片过大（上限 {} MB），请降低相机分辨率后重拍",
                self.max_bytes / (1024 * 1024)
            ),
        )
    }

    /// Verifies, processes and stores an upload. `mismatch` is the status for bytes that do
    /// not hash to `digest` (400 for PUT, 460 for tus). On any error nothing is stored.
    pub async fn ingest(
        &self,
        pool: &Pool,
        metrics: &Metrics,
        digest: &Digest,
        bytes: Vec<u8>,
        mismatch: StatusCode,
    ) -> ApiResult<Ingested> {
        let result = self
            .ingest_inner(pool, metrics, digest, bytes, mismatch)
            .await;
        match &result {
            Ok(Ingested::Stored) => {}
            Ok(Ingested::Duplicate) => metrics.observe_photo("duplicate", None),
            Err(e) => metrics.observe_photo(e.code(), None),
        }
        result
    }

    async fn ingest_inner(
        &self,
        pool: &Pool,
        metrics: &Metrics,
        digest: &Digest,
        bytes: Vec<u8>,
        mismatch: StatusCode,
    ) -> ApiResult<Ingested> {
        let (bytes, actual) = actix_web::web::block(move || {
            let d = Digest::of(&bytes);
            (bytes, d)
        })
        .await?;
        if &actual != digest {
            return Err(ApiError::new(
                mismatch,
                "checksum_mismatch",
                "照片数据与摘要不符（传输中损坏），请重新上传",
            ));
        }
        let key = digest.as_str().to_owned();
        if db::run(pool, move |conn| Ok(blobs::get(conn, &key)?))
            .await?
            .is_some()
        {
            // The bytes hash to the digest, so the caller holds this very photo: accepting it
            // tells nothing it did not know, and the stored variants are already there.
            return Ok(Ingested::Duplicate);
        }
        let started = Instant::now();
        let processed = {
            let _permit = self
                .workers
                .acquire()
                .await
                .map_err(|e| anyhow::anyhow!("processing pool closed: {e}"))?;
            let keep_gps = self.keep_gps;
            actix_web::web::block(move || process::process(&bytes, keep_gps)).await?
        }
        .map_err(refusal)?;
        let seconds = started.elapsed().as_secs_f64();
        let row = row_of(digest, &processed);
        let Processed { display, thumb, .. } = processed;
        self.store.put(digest, Variant::Display, display).await?;
        self.store.put(digest, Variant::Thumb, thumb).await?;
        let inserted = db::run(pool, move |conn| Ok(blobs::insert(conn, &row)?)).await?;
        metrics.observe_photo(if inserted { "stored" } else { "duplicate" }, Some(seconds));
        Ok(if inserted {
            Ingested::Stored
        } else {
            Ingested::Duplicate
        })
    }
}

/// The API error of an image the server will not store.
pub fn refusal(e: ProcessError) -> ApiError {
    match e {
        ProcessError::Unsupported { heif: true } => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "不支持 HEIC/HEIF 格式照片。请在手机“设置 → 相机 → 格式”中选择“兼容性最佳”（JPEG）后重拍",
        ),
        ProcessError::Unsupported { heif: false } => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "只支持 JPEG、PNG、WebP 格式的照片；请把相机格式设为 JPEG（“兼容性最佳”）后重拍",
        ),
        ProcessError::Invalid(why) => {
            tracing::info!(%why, "refused an image");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "image_invalid",
                "照片不完整或已损坏（或尺寸过大），请重新拍摄或重新上传",
            )
        }
    }
}

fn row_of(digest: &Digest, p: &Processed) -> BlobRow {
    let e7 = |deg: f64| (deg * 1e7).round() as i64;
    BlobRow {
        sha256: digest.as_str().to_owned(),
        mime: p.source.mime().to_owned(),
        width: i64::from(p.width),
        height: i64::from(p.height),
        display_bytes: p.display.len() as i64,
        thumb_bytes: p.thumb.len() as i64,
        gps_lat_e7: p.gps.map(|g| e7(g.0)),
        gps_lng_e7: p.gps.map(|g| e7(g.1)),
        created_at_ms: db::now_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_64_lowercase_hex_and_nothing_else() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(d.as_str()), Some(d.clone()));
        for bad in [
            d.as_str().to_uppercase(),
            format!("{}0", d),
            "../".repeat(21) + "a",
            String::new(),
        ] {
            assert!(Digest::parse(&bad).is_none(), "{bad}");
        }
    }
}
