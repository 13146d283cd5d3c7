//! The phone's side over HTTP: log in, push the outbox from the first unacknowledged mid
//! until the server has it all, and pull the grid at the end. A request that fails at the
//! connection (the server was killed) is "not acknowledged": the same mutations, same mids,
//! go again once the server is back.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::device::Device;
use crate::{PushStats, Shared};

/// The grid worker the run logs in as (created by `verify::set_up_grid_worker`).
pub const USERNAME: &str = "crash-worker";
/// Their password.
pub const PASSWORD: &str = "crash-password-1";
/// Largest batch the client makes (a push may resend several unacknowledged ones together).
const MAX_BATCH: usize = 20;
/// How long the client keeps retrying one push before the test fails (the server must come
/// back long before that).
const RETRY_LIMIT: Duration = Duration::from_secs(120);

/// One page of a pull and the cursors the request carried.
pub struct PulledPage {
    /// `cursors` of the request (`{}` on the first page).
    pub asked: Value,
    /// The page's changes, in seq order.
    pub changes: Vec<Value>,
}

/// Page size of the final pull: small, so that on any machine the pull spans several pages
/// and later pages carry tombstones of records deleted after the first page's end.
const PULL_PAGE: usize = 200;

/// The HTTP side of the device.
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Client {
    /// Logs the grid worker in (retrying while the server is down).
    pub async fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let mut client = Client {
            base: base.to_owned(),
            http,
            token: String::new(),
        };
        client.login().await.expect("login");
        client
    }

    async fn login(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let sent = self
                .http
                .post(format!("{}/api/auth/login", self.base))
                .json(&json!({"username": USERNAME, "password": PASSWORD, "device_name": "crash"}))
                .send()
                .await;
            if let Ok(resp) = sent {
                let status = resp.status();
                if let Ok(body) = resp.json::<Value>().await {
                    if status == 200 {
                        self.token = body["access_token"].as_str().unwrap_or("").to_owned();
                        return Ok(());
                    }
                    return Err(format!("login answered {status}: {body}"));
                }
            }
            if started.elapsed() > RETRY_LIMIT {
                return Err("login: the server did not answer".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes and pushes batches until the killer is done, then until every mutation is
    /// acknowledged. Checks every answer: a gap means the server lost an acknowledged mid,
    /// a rejection or an error means a mutation was not applied.
    pub async fn push_until_done(
        &mut self,
        device: &mut Device,
        shared: &Shared,
        seed: u64,
    ) -> Result<PushStats, String> {
        let mut stats = PushStats::default();
        let mut acked: i64 = 0;
        let mut retrying_since: Option<Instant> = None;
        loop {
            if acked == device.last_mid() {
                if shared.done.load(Ordering::SeqCst) {
                    return Ok(stats);
                }
                device.make_batch(MAX_BATCH);
                stats.batches += 1;
            }
            let from = acked as usize;
            let to = device.outbox.len().min(from + 500);
            let batch = &device.outbox[from..to];
            let body = json!({"client_id": device.client_id, "schema": 1, "mutations": batch});
            shared.in_flight.store(true, Ordering::SeqCst);
            let sent = Instant::now();
            let answer = self.post_json("/api/sync/push", &body).await;
            shared.in_flight.store(false, Ordering::SeqCst);
            let (status, reply) = match answer {
                Ok(a) => a,
                Err(_) => {
                    stats.connection_errors += 1;
                    let since = *retrying_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RETRY_LIMIT {
                        return Err(format!(
                            "push of mids {}..={to} failed for {RETRY_LIMIT:?}",
                            from + 1
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            retrying_since = None;
            if status == 401 {
                // The access token expired during a long run: log in again.
                self.login().await?;
                continue;
            }
            if status != 200 {
                return Err(format!(
                    "push of mids {}..={to} answered {status}: {reply} (acknowledged up to {acked}, seed {seed})",
                    from + 1
                ));
            }
            stats.answered += 1;
            shared
                .last_push_ms
                .store(sent.elapsed().as_millis() as u64, Ordering::SeqCst);
            shared.answered.fetch_add(1, Ordering::SeqCst);
            let last_mid = reply["last_mid"].as_i64().unwrap_or(-1);
            if last_mid != to as i64 {
                return Err(format!(
                    "push of mids {}..={to} answered last_mid {last_mid}: {reply}",
                    from + 1
                ));
            }
            // The server had committed an earlier attempt whose answer was lost: those
            // mids come back `duplicate`, always a prefix of the batch, the rest `applied`.
            let results = reply["results"].as_array().cloned().unwrap_or_default();
            if results.len() != batch.len() {
                return Err(format!(
                    "{} results for {} mutations",
                    results.len(),
                    batch.len()
                ));
            }
            let mut seen_applied = false;
            let mut duplicates = 0;
            for (r, m) in results.iter().zip(batch) {
                if r["mid"] != m["mid"] {
                    return Err(format!("result {r} for mutation {}", m["mid"]));
                }
                match r["status"].as_str() {
                    Some("applied") => seen_applied = true,
                    Some("duplicate") if !seen_applied => duplicates += 1,
                    _ => {
                        return Err(format!(
                            "mutation {} answered {r} in batch {}..={to}",
                            m["mid"],
                            from + 1
                        ));
                    }
                }
            }
            if duplicates > 0 {
                stats.lost_answers += 1;
            }
            acked = last_mid;
        }
    }

    /// Pulls every page from cursor 0, as a new phone does. Each page comes with the cursors
    /// it was asked for, so the check can tell the first page of a scope from later ones.
    pub async fn pull_all(&self, device: &Device) -> Result<Vec<PulledPage>, String> {
        let mut cursors = json!({});
        let mut pages = Vec::new();
        for _ in 0..10_000 {
            let body = json!({
                "client_id": device.client_id,
                "schema": 1,
                "cursors": cursors,
                "limit": PULL_PAGE,
            });
            let (status, page) = self
                .post_json("/api/sync/pull", &body)
                .await
                .map_err(|e| format!("pull: {e}"))?;
            if status != 200 {
                return Err(format!("pull answered {status}: {page}"));
            }
            pages.push(PulledPage {
                asked: cursors,
                changes: page["changes"].as_array().cloned().unwrap_or_default(),
            });
            cursors = page["cursors"].clone();
            if page["has_more"] != true {
                return Ok(pages);
            }
        }
        Err("pull does not end".into())
    }

    /// POSTs JSON with the bearer token; the status and the JSON body, or a connection error
    /// (including a body cut off by the kill).
    async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}
