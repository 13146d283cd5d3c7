//! `fangzha gc`: photos that no record has referred to for a number of days, and partial
//! uploads abandoned for as long. A dry run unless asked to apply.

use crate::db::blobs::{self, BlobRow};
use crate::db::{self, Pool};
use crate::media::tus::{UploadId, UploadInfo};
use crate::media::{Digest, Media};

/// What a gc run found and, when applied, removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Stored photos unreferred since the cutoff.
    pub blobs: Vec<BlobRow>,
    /// Partial uploads created before the cutoff: (id, declaration, bytes received).
    pub uploads: Vec<(UploadId, UploadInfo, u64)>,
    /// Photos actually deleted (0 in a dry run; fewer than found when a record referred to
    /// one again meanwhile).
    pub deleted_blobs: usize,
    /// Partial uploads actually deleted.
    pub deleted_uploads: usize,
}

/// Finds, and with `apply` removes, what has been unreferred for `older_than_days`.
pub async fn collect(
    pool: &Pool,
    media: &Media,
    older_than_days: u32,
    apply: bool,
) -> anyhow::Result<GcReport> {
    let cutoff = db::now_ms() - i64::from(older_than_days) * 86_400_000;
    let api = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    let found = db::run(pool, move |conn| Ok(blobs::unreferred_since(conn, cutoff)?))
        .await
        .map_err(api)?;
    let mut report = GcReport {
        blobs: found,
        uploads: media.uploads.older_than(cutoff)?,
        ..GcReport::default()
    };
    if !apply {
        return Ok(report);
    }
    for row in &report.blobs {
        let Some(digest) = Digest::parse(&row.sha256) else {
            continue;
        };
        let key = row.sha256.clone();
        // Checked again inside the delete's transaction: a push may have referred to it
        // since the listing. The row goes first, so a crash leaves only unlisted objects.
        let deleted = db::run_tx(pool, move |conn| {
            Ok(blobs::delete_if_unreferred(conn, &key, cutoff)?)
        })
        .await
        .map_err(api)?;
        if deleted {
            media.store.delete(&digest).await?;
            report.deleted_blobs += 1;
        }
    }
    for (id, _, _) in &report.uploads {
        media.uploads.remove(id)?;
        report.deleted_uploads += 1;
    }
    Ok(report)
}
