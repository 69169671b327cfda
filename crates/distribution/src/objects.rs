//! Where published files go: a local directory by default, or any S3-compatible bucket.
//!
//! Both go through the `object_store` crate. Local writes are atomic (written aside, then renamed),
//! S3 puts are atomic by nature, so a reader never sees half a file.
//!
//! Runs are idempotent without downloading what is published: a run lists the store once
//! ([`Objects::snapshot`]) and skips a file whose listed ETag is the MD5 of the planned bytes (what S3
//! gives a single-part PUT). Where the ETag is something else (KMS encryption, other S3-compatible
//! stores) a HEAD compares the SHA-256 each upload carries in its metadata; only a local store, where
//! reading is cheap, compares bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use md5::Md5;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
        /// Take credentials from the cloud instance's role (its metadata service) when none are given.
        /// Off by default: without credentials the store refuses to open, instead of asking an address
        /// outside this machine.
        #[serde(default)]
        instance_credentials: bool,
    },
}

/// The static credentials of an S3 store: from the configuration, else from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` (read through `env`); `None` only when `instance_credentials` allows it.
fn s3_credentials(
    access_key_id: Option<&str>,
    secret_access_key: Option<&str>,
    instance_credentials: bool,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(String, String)>> {
    let id = access_key_id
        .map(str::to_owned)
        .or_else(|| env("AWS_ACCESS_KEY_ID"))
        .filter(|v| !v.is_empty());
    let secret = secret_access_key
        .map(str::to_owned)
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
        .filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) if instance_credentials => Ok(None),
        (id, _) => anyhow::bail!(
            "the S3 store has no {}: set distribution.store.access_key_id and secret_access_key \
             (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or instance_credentials = true to use \
             the cloud instance's role",
            if id.is_some() { "secret access key" } else { "credentials" }
        ),
    }
}

/// The metadata key (`x-amz-meta-content-sha256` on S3) holding the hex SHA-256 of an object's bytes.
const CONTENT_SHA256: &str = "content-sha256";

/// What a store held when a run began, from one listing: object path → (size, ETag).
#[derive(Debug, Clone, Default)]
pub struct Snapshot(HashMap<String, (u64, Option<String>)>);

impl Snapshot {
    /// The URL paths of the listed files under `prefix` (a URL path; empty for all), as
    /// [`Objects::list`] gives them.
    pub fn url_paths(&self, prefix: &str) -> Vec<String> {
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            trimmed => format!("{trimmed}/"),
        };
        let suffix = format!("/{}", layout::INDEX_OBJECT);
        self.0
            .keys()
            .filter(|object| object.starts_with(&prefix))
            .filter_map(|object| object.strip_suffix(&suffix).map(str::to_owned))
            .collect()
    }
}

/// What [`Objects::publish`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written: new, or an index or configuration file whose bytes changed.
    Written,
    /// Already published with the same bytes.
    Unchanged,
    /// An archive already published with other bytes: left as it is.
    Kept,
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
                instance_credentials,
            } => {
                // Checked before anything is built: a store without credentials would otherwise ask the
                // cloud metadata address, and fail slowly and obscurely off the cloud.
                let credentials = s3_credentials(
                    access_key_id.as_deref(),
                    secret_access_key.as_deref(),
                    *instance_credentials,
                    |name| std::env::var(name).ok(),
                )?;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let Some((id, secret)) = credentials {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret);
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

    /// Every object under `prefix` (a URL path) with its size and ETag, in one listing (one request
    /// per thousand objects on S3): what [`Objects::put_if_changed`] compares with.
    pub async fn snapshot(&self, prefix: &str) -> anyhow::Result<Snapshot> {
        let prefix = ObjectPath::from(prefix.trim_matches('/'));
        let mut listing = self.store.list(Some(&prefix));
        let mut objects = HashMap::new();
        while let Some(meta) = listing
            .try_next()
            .await
            .with_context(|| format!("listing {prefix}"))?
        {
            objects.insert(meta.location.to_string(), (meta.size, meta.e_tag));
        }
        Ok(Snapshot(objects))
    }

    /// Publishes a file unless the same bytes are already there; returns whether it wrote. Costs a
    /// HEAD (S3) or a read (local) before the write; a run uses [`Objects::put_if_changed`] instead.
    pub async fn put(&self, url_path: &str, kind: Kind, bytes: Vec<u8>) -> anyhow::Result<bool> {
        let object = layout::object_for(url_path);
        let meta = match self.store.head(&ObjectPath::from(object.as_str())).await {
            Ok(meta) => Some((meta.size, meta.e_tag)),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(err) => return Err(err).with_context(|| format!("reading {object}")),
        };
        let snapshot = Snapshot(meta.into_iter().map(|m| (object.clone(), m)).collect());
        self.put_if_changed(&snapshot, url_path, kind, bytes).await
    }

    /// Publishes a file unless `snapshot` (taken earlier in this run) shows the same bytes already
    /// there; returns whether it wrote. An unchanged file on S3 costs no request when its ETag is the
    /// MD5 of its bytes, one HEAD otherwise; nothing is downloaded.
    pub async fn put_if_changed(
        &self,
        snapshot: &Snapshot,
        url_path: &str,
        kind: Kind,
        bytes: Vec<u8>,
    ) -> anyhow::Result<bool> {
        let object = ObjectPath::from(layout::object_for(url_path));
        if let Some((size, etag)) = snapshot.0.get(object.as_ref()) {
            if *size == bytes.len() as u64 && self.unchanged(&object, etag, &bytes).await? {
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
            attributes.insert(
                Attribute::Metadata(CONTENT_SHA256.into()),
                hex::encode(Sha256::digest(&bytes)).into(),
            );
            options.attributes = attributes;
        }
        self.store
            .put_opts(&object, PutPayload::from(bytes), options)
            .await
            .with_context(|| format!("writing {object}"))?;
        Ok(true)
    }

    /// Publishes a file of a run, given `snapshot` (taken at the run's start). Indexes and
    /// configuration files are written when their bytes changed ([`Objects::put_if_changed`]); an
    /// archive already published is never written again, whatever the current settings would make
    /// of it (phones and caches keep it as immutable, and apps verified its signature once).
    pub async fn publish(
        &self,
        snapshot: &Snapshot,
        url_path: &str,
        kind: Kind,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Put> {
        let object = ObjectPath::from(layout::object_for(url_path));
        if kind == Kind::Archive {
            if let Some((size, etag)) = snapshot.0.get(object.as_ref()) {
                let same =
                    *size == bytes.len() as u64 && self.unchanged(&object, etag, &bytes).await?;
                return Ok(if same { Put::Unchanged } else { Put::Kept });
            }
        }
        Ok(
            match self.put_if_changed(snapshot, url_path, kind, bytes).await? {
                true => Put::Written,
                false => Put::Unchanged,
            },
        )
    }

    /// Whether an object of the planned size already holds `bytes`.
    async fn unchanged(
        &self,
        object: &ObjectPath,
        etag: &Option<String>,
        bytes: &[u8],
    ) -> anyhow::Result<bool> {
        if self.local_dir.is_some() {
            // A local ETag is made of inode and time, not content; reading the file back is cheap here.
            return Ok(self
                .get_object(object)
                .await?
                .is_some_and(|existing| existing.as_ref() == bytes));
        }
        let md5 = format!("\"{}\"", hex::encode(Md5::digest(bytes)));
        if etag
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&md5))
        {
            return Ok(true);
        }
        // Not an MD5 ETag (KMS encryption, multipart, some S3-compatible stores): the hash the upload
        // stored in the object's metadata decides, with a HEAD and no download.
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let stored = match self.store.get_opts(object, options).await {
            Ok(result) => result
                .attributes
                .get(&Attribute::Metadata(CONTENT_SHA256.into()))
                .map(|v| v.as_ref().to_owned()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(err) => return Err(err).with_context(|| format!("reading {object}")),
        };
        Ok(stored.is_some_and(|s| s.eq_ignore_ascii_case(&hex::encode(Sha256::digest(bytes)))))
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
        Ok(self.snapshot(prefix).await?.url_paths(prefix))
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

#[cfg(test)]
mod tests {
    use super::s3_credentials;

    #[test]
    fn s3_credentials_are_explicit_or_refused() {
        let none = |_: &str| None;
        let env = |name: &str| Some(format!("env-{name}"));
        assert_eq!(
            s3_credentials(Some("id"), Some("secret"), false, env).unwrap(),
            Some(("id".into(), "secret".into()))
        );
        assert_eq!(
            s3_credentials(None, None, false, env).unwrap(),
            Some((
                "env-AWS_ACCESS_KEY_ID".into(),
                "env-AWS_SECRET_ACCESS_KEY".into()
            ))
        );
        let err = s3_credentials(None, None, false, none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("instance_credentials"), "{err}");
        assert!(s3_credentials(Some("id"), None, false, none)
            .unwrap_err()
            .to_string()
            .contains("secret access key"));
        assert!(s3_credentials(Some("id"), None, true, none).is_err());
        assert_eq!(s3_credentials(None, None, true, none).unwrap(), None);
        assert!(s3_credentials(Some(""), Some(""), false, none).is_err());
    }
}
