//! Prometheus instruments: requests by route and status, latency, database pool use.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::db::Pool;

/// The registry and the instruments the server updates.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// Request latency by method and route pattern.
    pub http_seconds: HistogramVec,
    sync_mutations: IntCounterVec,
    sync_requests: IntCounterVec,
    sync_seconds: HistogramVec,
    sync_pulled_changes: prometheus::IntCounter,
    photo_uploads: IntCounterVec,
    photo_seconds: prometheus::Histogram,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

impl Metrics {
    /// Creates and registers every instrument.
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new_custom(Some("fangzha".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["method", "route"],
        )?;
        let sync_mutations = IntCounterVec::new(
            Opts::new("sync_mutations_total", "Pushed mutations by result"),
            &["status"],
        )?;
        let sync_requests = IntCounterVec::new(
            Opts::new(
                "sync_requests_total",
                "Sync requests that succeeded, by kind",
            ),
            &["kind"],
        )?;
        let sync_seconds = HistogramVec::new(
            HistogramOpts::new("sync_batch_duration_seconds", "Push and pull latency").buckets(
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["kind"],
        )?;
        let sync_pulled_changes = prometheus::IntCounter::new(
            "sync_pulled_changes_total",
            "Record changes sent to devices",
        )?;
        let photo_uploads = IntCounterVec::new(
            Opts::new(
                "photo_uploads_total",
                "Completed photo uploads by result (stored, duplicate, or the error code)",
            ),
            &["result"],
        )?;
        let photo_seconds = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "photo_processing_seconds",
                "Decode, orientation, resize and encode time of one photo",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        let pool_max = IntGauge::new("db_pool_max_connections", "Pool size limit")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_seconds.clone()))?;
        registry.register(Box::new(sync_mutations.clone()))?;
        registry.register(Box::new(sync_requests.clone()))?;
        registry.register(Box::new(sync_seconds.clone()))?;
        registry.register(Box::new(sync_pulled_changes.clone()))?;
        registry.register(Box::new(photo_uploads.clone()))?;
        registry.register(Box::new(photo_seconds.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_seconds,
            sync_mutations,
            sync_requests,
            sync_seconds,
            sync_pulled_changes,
            photo_uploads,
            photo_seconds,
            pool_connections,
            pool_idle,
            pool_max,
        })
    }

    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_seconds
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Records one applied push batch.
    pub fn observe_push(&self, results: &[crate::sync::push::MutationResult], seconds: f64) {
        self.sync_requests.with_label_values(&["push"]).inc();
        self.sync_seconds
            .with_label_values(&["push"])
            .observe(seconds);
        for r in results {
            self.sync_mutations.with_label_values(&[r.status]).inc();
        }
    }

    /// Records one pull page.
    pub fn observe_pull(&self, changes: usize, seconds: f64) {
        self.sync_requests.with_label_values(&["pull"]).inc();
        self.sync_seconds
            .with_label_values(&["pull"])
            .observe(seconds);
        self.sync_pulled_changes.inc_by(changes as u64);
    }

    /// Records one completed photo upload: its result and, when it was processed, how long
    /// processing took.
    pub fn observe_photo(&self, result: &str, seconds: Option<f64>) {
        self.photo_uploads.with_label_values(&[result]).inc();
        if let Some(s) = seconds {
            self.photo_seconds.observe(s);
        }
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, pool: &Pool) -> String {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool.max_size()));
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
