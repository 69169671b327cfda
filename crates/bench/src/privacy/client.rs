//! The observer's and the background's side of `bench privacy`: requests as the app sends them,
//! and what an observer sees of each answer.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use warnkit_app::submit::{
    fake_payload, pad_json, padded_payload, random_uuid, Interop, JSON_BODY_BYTES,
    UPLOAD_BODY_BYTES,
};
use warnkit_service::auth::sha256_hex;
use warnkit_store::unix_now;
use warnkit_submission::SUBMISSION_PATH;

use super::load::Measured;
use super::stats::compare;
use super::EndpointReport;
use crate::services::{fresh_guids, post_positive, Services};

/// One condition: the app's path in order, each endpoint's real requests feeding the next (tokens, TANs).
pub(super) async fn observe(
    target: &Target,
    n: usize,
    w: usize,
    measured: &Measured,
) -> anyhow::Result<Vec<EndpointReport>> {
    let client = Client::new(target.clone())?;
    let guids = fresh_guids(w + n);
    post_positive(&client.http, &target.testresult, &target.lab_key, &guids).await?;
    let mut rng = rand::rngs::StdRng::from_entropy();

    let reals = guids
        .iter()
        .map(|g| verification_body(json!({"keyType": "GUID", "key": sha256_hex(g)})))
        .collect();
    let fake_reg = || {
        let guid = random_uuid(&mut rand::thread_rng());
        verification_body(json!({"keyType": "GUID", "key": sha256_hex(guid)}))
    };
    measured.set(Some("registrationToken"));
    let (reg, bodies) = client
        .endpoint("registrationToken", reals, fake_reg, w, &mut rng)
        .await?;
    let tokens = fields(&bodies, "registrationToken")?;

    let token_body = |t: &str| verification_body(json!({ "registrationToken": t }));
    let fake_token = || token_body(&random_uuid(&mut rand::thread_rng()));
    let reals = tokens.iter().map(|t| token_body(t)).collect();
    measured.set(Some("testresult"));
    let (poll, _) = client
        .endpoint("testresult", reals, fake_token, w, &mut rng)
        .await?;
    let reals = tokens.iter().map(|t| token_body(t)).collect();
    measured.set(Some("tan"));
    let (tan, bodies) = client
        .endpoint("tan", reals, fake_token, w, &mut rng)
        .await?;
    let tans = fields(&bodies, "tan")?;

    let today = today()?;
    let reals = tans
        .into_iter()
        .map(|tan| real_upload(today, tan))
        .collect();
    measured.set(Some("diagnosis-keys"));
    let (upload, _) = client
        .endpoint("diagnosis-keys", reals, fake_upload, w, &mut rng)
        .await?;
    measured.set(None);
    Ok(vec![reg, poll, tan, upload])
}

/// Today's first rolling interval.
pub(super) fn today() -> anyhow::Result<i32> {
    Ok(i32::try_from(unix_now() / 600 / 144 * 144)?)
}

/// A verification request body as the app pads it.
pub(super) fn verification_body(body: Value) -> Req {
    Req::Verification(pad_json(body, JSON_BODY_BYTES))
}

/// A real upload as the app sends it: 14 keys, padded, the TAN, empty header padding.
pub(super) fn real_upload(today: i32, tan: String) -> Req {
    let keys = crate::submission::payload(today, 14).keys;
    let body = padded_payload(
        keys,
        &Interop::default(),
        UPLOAD_BODY_BYTES,
        &mut rand::thread_rng(),
    );
    Req::Upload {
        body,
        tan,
        header_padding: String::new(),
    }
}

/// A fake upload as the app sends it: padding only, an empty TAN, a TAN-sized header padding.
pub(super) fn fake_upload() -> Req {
    let mut rng = rand::thread_rng();
    let header_padding = (0..36)
        .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
        .collect();
    Req::Upload {
        body: fake_payload(UPLOAD_BODY_BYTES, &mut rng),
        tan: String::new(),
        header_padding,
    }
}

/// The string `field` of each JSON body.
pub(super) fn fields(bodies: &[Vec<u8>], field: &str) -> anyhow::Result<Vec<String>> {
    bodies
        .iter()
        .map(|b| field_of(b, field).with_context(|| format!("no {field} in a real answer")))
        .collect()
}

/// The string `name` of a JSON body.
pub(super) fn field_of(body: &[u8], name: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v[name].as_str().map(str::to_owned)
}

/// One request as the app sends it.
pub(super) enum Req {
    /// A JSON body to a verification endpoint.
    Verification(Value),
    /// An upload.
    Upload {
        body: Vec<u8>,
        tan: String,
        header_padding: String,
    },
}

/// What an observer of one exchange sees.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) latency: Duration,
    pub(super) status: u16,
    pub(super) header_names: Vec<String>,
    pub(super) header_bytes: usize,
    pub(super) body: Vec<u8>,
}

/// Where the services listen, and the lab key.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) testresult: String,
    pub(super) verification: String,
    pub(super) submission: String,
    pub(super) lab_key: String,
}

impl Target {
    pub(super) fn of(services: &Services) -> Self {
        Self {
            testresult: services.testresult_url.clone(),
            verification: services.verification_url.clone(),
            submission: services.submission_url.clone(),
            lab_key: services.lab_key.clone(),
        }
    }
}

/// A client of the app API, as a phone.
pub(super) struct Client {
    pub(super) http: reqwest::Client,
    pub(super) target: Target,
}

impl Client {
    pub(super) fn new(target: Target) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().build()?,
            target,
        })
    }

    /// Sends `req` to `endpoint` as real or fake; the clock runs from the send to the answer's last byte.
    pub(super) async fn send(&self, endpoint: &str, req: &Req, fake: bool) -> anyhow::Result<Seen> {
        let flag = if fake { "1" } else { "0" };
        let builder = match req {
            Req::Verification(body) => self
                .http
                .post(format!(
                    "{}/version/v1/{endpoint}",
                    self.target.verification
                ))
                .header("cwa-fake", flag)
                .header("cwa-header-padding", "")
                .json(body),
            Req::Upload {
                body,
                tan,
                header_padding,
            } => self
                .http
                .post(format!("{}{SUBMISSION_PATH}", self.target.submission))
                .header("content-type", "application/x-protobuf")
                .header("cwa-authorization", tan)
                .header("cwa-fake", flag)
                .header("cwa-header-padding", header_padding)
                .body(body.clone()),
        };
        let request = builder.build()?;
        let start = Instant::now();
        let r = self.http.execute(request).await?;
        let status = r.status().as_u16();
        let mut header_names: Vec<String> = r.headers().keys().map(|k| k.to_string()).collect();
        header_names.sort();
        let header_bytes = r
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        let body = r.bytes().await?.to_vec();
        Ok(Seen {
            latency: start.elapsed(),
            status,
            header_names,
            header_bytes,
            body,
        })
    }

    /// `warmup` real requests unmeasured, then the rest of `reals` and as many fakes in random order;
    /// returns the report and the bodies of every real answer, in the order of `reals`.
    async fn endpoint(
        &self,
        endpoint: &'static str,
        reals: Vec<Req>,
        mut fake: impl FnMut() -> Req,
        warmup: usize,
        rng: &mut impl Rng,
    ) -> anyhow::Result<(EndpointReport, Vec<Vec<u8>>)> {
        let warmup = warmup.min(reals.len());
        let mut bodies = Vec::with_capacity(reals.len());
        for req in &reals[..warmup] {
            let seen = self.send(endpoint, req, false).await?;
            ensure!(
                seen.status < 300,
                "warm-up {endpoint} answered {}",
                seen.status
            );
            bodies.push(seen.body);
        }
        let measured = &reals[warmup..];
        let mut order: Vec<bool> = vec![false; measured.len()];
        order.extend(vec![true; measured.len()]);
        order.shuffle(rng);
        let (mut real, mut fakes) = (Vec::new(), Vec::new());
        let mut next_real = measured.iter();
        for is_fake in order {
            if is_fake {
                fakes.push(self.send(endpoint, &fake(), true).await?);
            } else {
                let req = next_real.next().context("as many reals as planned")?;
                let seen = self.send(endpoint, req, false).await?;
                ensure!(
                    seen.status < 300,
                    "real {endpoint} answered {}",
                    seen.status
                );
                bodies.push(seen.body.clone());
                real.push(seen);
            }
        }
        Ok((compare(endpoint, &real, &fakes), bodies))
    }
}
