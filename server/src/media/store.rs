//! Where the processed variants live: an `object_store` — a directory under the data dir by
//! default, an S3-compatible bucket when configured (so several replicas share photos).
//! Object names come only from validated digests ([`super::Digest`]) and the fixed variant
//! names, never from request text.

use std::ops::Range;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::Digest;
use crate::config::{PhotoSettings, PhotoStoreKind};

/// One of the two stored renditions of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Long edge 1600 px, for viewing.
    Display,
    /// Long edge 320 px, for lists.
    Thumb,
}

impl Variant {
    /// Both variants.
    pub const ALL: [Variant; 2] = [Variant::Display, Variant::Thumb];

    /// The wire and object name.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Display => "display",
            Variant::Thumb => "thumb",
        }
    }

    /// Parses the `variant` query value.
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "display" => Some(Variant::Display),
            "thumb" => Some(Variant::Thumb),
            _ => None,
        }
    }
}

/// The object store of photo variants.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
}

impl BlobStore {
    /// Opens the configured store; the local one is created under `<data_dir>/blobs`.
    pub fn open(settings: &PhotoSettings, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let inner: Arc<dyn ObjectStore> = match settings.store {
            PhotoStoreKind::Local => {
                let dir = data_dir.join("blobs");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating photo directory {}", dir.display()))?;
                Arc::new(LocalFileSystem::new_with_prefix(&dir)?)
            }
            PhotoStoreKind::S3 => open_s3(settings)?,
        };
        Ok(BlobStore { inner })
    }

    /// `ab/abcd…/display.jpg`: two-character fan-out keeps local directories small.
    fn path(digest: &Digest, variant: Variant) -> ObjectPath {
        let hex = digest.as_str();
        ObjectPath::from(format!("{}/{hex}/{}.jpg", &hex[..2], variant.as_str()))
    }

    /// Stores a variant (atomically: readers never see half an object).
    pub async fn put(
        &self,
        digest: &Digest,
        variant: Variant,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.inner
            .put(&Self::path(digest, variant), PutPayload::from(bytes))
            .await
            .with_context(|| format!("storing {variant:?} of {digest}"))?;
        Ok(())
    }

    /// A whole variant.
    pub async fn get(&self, digest: &Digest, variant: Variant) -> anyhow::Result<Bytes> {
        let got = self
            .inner
            .get(&Self::path(digest, variant))
            .await
            .with_context(|| format!("reading {variant:?} of {digest}"))?;
        Ok(got.bytes().await?)
    }

    /// A byte range of a variant.
    pub async fn get_range(
        &self,
        digest: &Digest,
        variant: Variant,
        range: Range<u64>,
    ) -> anyhow::Result<Bytes> {
        self.inner
            .get_range(&Self::path(digest, variant), range)
            .await
            .with_context(|| format!("reading part of {variant:?} of {digest}"))
    }

    /// Removes both variants; an object already gone is not an error.
    pub async fn delete(&self, digest: &Digest) -> anyhow::Result<()> {
        for variant in Variant::ALL {
            match self.inner.delete(&Self::path(digest, variant)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("deleting {digest}")),
            }
        }
        Ok(())
    }
}

#[cfg(feature = "s3")]
fn open_s3(settings: &PhotoSettings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use secrecy::ExposeSecret;
    let s3 = &settings.s3;
    let bucket = s3
        .bucket
        .as_deref()
        .filter(|b| !b.is_empty())
        .context("photos.store = \"s3\" needs photos.s3.bucket")?;
    // Credentials not given here come from the usual AWS_* environment variables.
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&s3.region)
        .with_allow_http(s3.allow_http)
        .with_virtual_hosted_style_request(s3.virtual_hosted_style);
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    let store = builder.build().context("configuring the S3 photo store")?;
    Ok(match &s3.prefix {
        Some(p) if !p.is_empty() => Arc::new(object_store::prefix::PrefixStore::new(
            store,
            p.trim_matches('/'),
        )),
        _ => Arc::new(store),
    })
}

#[cfg(not(feature = "s3"))]
fn open_s3(_settings: &PhotoSettings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    anyhow::bail!(
        "photos.store = \"s3\" needs a server built with the `s3` feature \
         (cargo build --release --features s3)"
    )
}
