//! Where published files go: a local directory by default, or any S3-compatible bucket.
//!
//! Both go through the `object_store` crate. Local writes are atomic (written aside, then renamed),
//! S3 puts are atomic by nature, so a reader never sees half a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::layout::{self, Kind};

/// Where to publish, from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoreConfig {
    /// A local directory, served by the built-in static server.
    Local {
        /// The directory (created if missing).
        dir: PathBuf,
    },
    /// An S3-compatible bucket, served by a CDN in front of it.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Endpoint URL, e.g. `https://s3.eu-central-1.amazonaws.com` or a local MinIO.
        endpoint: Option<String>,
        /// Region, e.g. `eu-central-1`.
        region: String,
        /// Access key id (or from `AWS_ACCESS_KEY_ID`).
        access_key_id: Option<String>,
        /// Secret access key (or from `AWS_SECRET_ACCESS_KEY`).
        secret_access_key: Option<String>,
    },
}

/// The published-files store.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// The local directory, when local: the static server reads it directly.
    local_dir: Option<PathBuf>,
}

impl Objects {
    /// Opens the store a configuration names.
    pub fn open(config: &StoreConfig) -> anyhow::Result<Self> {
        match config {
            StoreConfig::Local { dir } => Self::local(dir),
            StoreConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(id) = access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                let store = builder
                    .build()
                    .with_context(|| format!("configuring S3 bucket {bucket}"))?;
                Ok(Self {
                    store: Arc::new(store),
                    local_dir: None,
                })
            }
        }
    }

    /// A local directory, created if missing.
    pub fn local(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("opening {}", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
            local_dir: Some(dir.to_path_buf()),
        })
    }

    /// The local directory, if this store is one.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    /// Publishes a file unless the same bytes are already there; returns whether it wrote.
    pub async fn put(&self, url_path: &str, kind: Kind, bytes: Vec<u8>) -> anyhow::Result<bool> {
        let object = ObjectPath::from(layout::object_for(url_path));
        if let Some(existing) = self.get_object(&object).await? {
            if existing.as_ref() == bytes.as_slice() {
                return Ok(false);
            }
        }
        let mut options = PutOptions::default();
        if self.local_dir.is_none() {
            // S3 keeps these headers with the object, so the CDN serves them; a local directory cannot
            // store them, and the static server derives them from the path instead.
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::CacheControl, kind.cache_control().into());
            attributes.insert(Attribute::ContentType, kind.content_type().into());
            options.attributes = attributes;
        }
        self.store
            .put_opts(&object, PutPayload::from(bytes), options)
            .await
            .with_context(|| format!("writing {object}"))?;
        Ok(true)
    }

    /// The content at a URL path, if published.
    pub async fn get(&self, url_path: &str) -> anyhow::Result<Option<Bytes>> {
        self.get_object(&ObjectPath::from(layout::object_for(url_path)))
            .await
    }

    async fn get_object(&self, object: &ObjectPath) -> anyhow::Result<Option<Bytes>> {
        match self.store.get(object).await {
            Ok(result) => Ok(Some(
                result
                    .bytes()
                    .await
                    .with_context(|| format!("reading {object}"))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {object}")),
        }
    }

    /// The URL paths of every published file under `prefix` (a URL path).
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let prefix = ObjectPath::from(prefix.trim_matches('/'));
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("listing {prefix}"))?;
        let suffix = format!("/{}", layout::INDEX_OBJECT);
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_suffix(&suffix).map(str::to_owned))
            .collect())
    }

    /// Removes a published file.
    pub async fn delete(&self, url_path: &str) -> anyhow::Result<()> {
        let object = ObjectPath::from(layout::object_for(url_path));
        match self.store.delete(&object).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("deleting {object}")),
        }
    }
}
