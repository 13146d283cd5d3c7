//! Builds the HTTP server from settings: secrets, pool, migrations, routes, middleware.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::auth::jwt::JwtKeys;
use crate::auth::login_guard::LoginGuard;
use crate::config::{Secrets, Settings};
use crate::media::Media;
use crate::metrics::Metrics;
use crate::rate_limit::PushGuard;
use crate::state::AppState;
use crate::sync::SyncContext;
use crate::{api, db, headers, pwa, slow_clients};

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Resolves secrets, opens the pool, applies migrations and binds the listener
    /// (`bind` may use port 0; [`Application::port`] tells the one chosen).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let secrets = Secrets::resolve(&settings)?;
        let url = settings.database_url();
        let pool_size = settings.db_pool_size;
        let pool = actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<db::Pool> {
            let pool = db::connect(&url, pool_size)?;
            let applied = db::migrate(&mut *pool.get()?)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
            Ok(pool)
        })
        .await
        .context("database start-up task failed")??;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let max_body = settings.max_body_bytes;
        let timeouts = settings.http.clone();
        let tls = crate::tls::server_config(&settings)?;
        let map_tile_url = settings.map_tile_url.clone();
        let https = tls.is_some();
        let state = web::Data::new(AppState {
            pool,
            jwt: JwtKeys::new(&secrets.jwt, settings.access_token_ttl_secs)
                .with_previous(&secrets.jwt_previous),
            login_guard: LoginGuard::new(settings.login.clone()),
            push_guard: PushGuard::new(&settings.push_limits),
            metrics: Metrics::new()?,
            sync: SyncContext::new(
                secrets.cipher(),
                &settings.campaign_start,
                crate::config::risk_rules(&settings)?,
            ),
            media: Media::open(&settings)?,
            settings: Arc::new(settings),
            imports: Default::default(),
        });
        let body_limits = timeouts.clone();
        let server = HttpServer::new(move || {
            let metrics_state = state.clone();
            let body_limits = body_limits.clone();
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap_fn(move |mut req, srv| {
                    let timed_out = slow_clients::guard(&mut req, &body_limits);
                    let fut = srv.call(req);
                    async move { Ok(slow_clients::finish(fut.await?, &timed_out)) }
                })
                .wrap_fn(move |req, srv| {
                    // Route pattern (not the raw path) keeps label cardinality bounded.
                    let route = req.match_pattern().unwrap_or_else(|| "other".to_owned());
                    let method = req.method().to_string();
                    let request_id = req.extensions().get::<RequestId>().copied();
                    let started = Instant::now();
                    let fut = srv.call(req);
                    let metrics_state = metrics_state.clone();
                    async move {
                        let mut res = fut.await?;
                        metrics_state.metrics.observe(
                            &method,
                            &route,
                            res.status().as_u16(),
                            started.elapsed().as_secs_f64(),
                        );
                        if let Some(v) =
                            request_id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok())
                        {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), v);
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::default())
                .wrap(middleware::Compress::default())
                .wrap(headers::default_headers(map_tile_url.as_deref(), https))
                .configure(|cfg| api::configure(cfg, max_body))
                .default_service(web::to(pwa::serve))
        })
        // Explicit, so a slow or silent client is cut off (408) at known times.
        .client_request_timeout(Duration::from_millis(timeouts.request_head_ms))
        .client_disconnect_timeout(Duration::from_millis(timeouts.disconnect_ms))
        .keep_alive(Duration::from_millis(timeouts.keep_alive_ms));
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .shutdown_timeout(10)
        .run();
        Ok(Application { port, server })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (Ctrl-C / SIGTERM: graceful).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
