//! Thin HTTP handlers. Request and response shapes live here; the work is done in services
//! (`auth::session`, …) and the `db` modules.

pub mod admin;
pub mod auth;
pub mod blobs;
pub mod exports;
pub mod flags;
pub mod health;
pub mod imports;
pub mod reports;
pub mod sync;
pub mod views;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::{HttpRequest, Resource, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Registers every route of the API and the operational endpoints.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(json_config(max_body))
        .app_data(web::PathConfig::default().error_handler(|e: PathError, _| {
            ApiError::bad_request("invalid_path", format!("路径参数无效：{e}")).into()
        }))
        .app_data(
            web::QueryConfig::default().error_handler(|e: QueryPayloadError, _| {
                ApiError::bad_request("invalid_query", format!("查询参数无效：{e}")).into()
            }),
        )
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .service(
            web::scope("/api")
                .service(resource("/auth/login").route(web::post().to(auth::login)))
                .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
                .service(resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(resource("/me").route(web::get().to(auth::me)))
                .service(resource("/flags/{id}/review").route(web::post().to(flags::review)))
                .service(resource("/audit").route(web::get().to(admin::audit)))
                .service(resource("/campaign").route(web::get().to(reports::campaign)))
                .service(resource("/admin/campaign").route(web::put().to(reports::set_campaign)))
                .service(
                    resource("/admin/campaign/versions")
                        .route(web::get().to(reports::campaign_versions)),
                )
                .service(resource("/reports/dashboard").route(web::get().to(reports::dashboard)))
                .service(resource("/reports/ranking").route(web::get().to(reports::ranking)))
                .service(
                    resource("/reports/model-villages")
                        .route(web::get().to(reports::model_villages)),
                )
                .service(
                    resource("/cases")
                        .route(web::get().to(reports::list_cases))
                        .route(web::post().to(reports::add_case)),
                )
                .service(
                    resource("/admin/model-villages/{id}")
                        .route(web::put().to(reports::name_model))
                        .route(web::delete().to(reports::unname_model)),
                )
                // Before `/blobs/{sha256}`, which would otherwise take these names as digests.
                .service(resource("/blobs/missing").route(web::post().to(blobs::missing)))
                .service(
                    web::scope("/blobs/tus")
                        .wrap(
                            actix_web::middleware::DefaultHeaders::new()
                                .add(("Tus-Resumable", blobs::TUS_VERSION)),
                        )
                        .service(
                            resource("")
                                .route(web::method(Method::OPTIONS).to(blobs::tus_options))
                                .route(web::post().to(blobs::tus_create)),
                        )
                        .service(
                            resource("/{id}")
                                .route(web::head().to(blobs::tus_head))
                                .route(web::patch().to(blobs::tus_patch))
                                .route(web::delete().to(blobs::tus_delete)),
                        )
                        .default_service(web::to(|| async {
                            Err::<actix_web::HttpResponse, _>(ApiError::not_found("上传不存在"))
                        })),
                )
                .service(
                    resource("/blobs/{sha256}")
                        .route(web::get().to(blobs::get))
                        .route(web::put().to(blobs::put)),
                )
                .service(resource("/sync/push").route(web::post().to(sync::push)))
                .service(resource("/sync/pull").route(web::post().to(sync::pull)))
                .service(
                    resource("/records/{entity}/{id}/history").route(web::get().to(sync::history)),
                )
                .service(
                    resource("/records/{entity}/{id}/reveal").route(web::post().to(sync::reveal)),
                )
                .service(
                    resource("/admin/areas")
                        .route(web::get().to(admin::list_areas))
                        .route(web::post().to(admin::create_area)),
                )
                .service(
                    resource("/admin/areas/{id}")
                        .route(web::get().to(admin::get_area))
                        .route(web::patch().to(admin::update_area)),
                )
                .service(resource("/areas").route(web::get().to(reports::areas)))
                .service(resource("/areas/{id}/poster.svg").route(web::get().to(reports::poster)))
                .service(
                    resource("/admin/users")
                        .route(web::get().to(admin::list_users))
                        .route(web::post().to(admin::create_user)),
                )
                .service(resource("/admin/users/{id}").route(web::get().to(admin::get_user)))
                .service(
                    resource("/admin/users/{id}/areas").route(web::put().to(admin::set_user_areas)),
                )
                // POST names the kind to import, GET the job id the POST answered.
                .service(
                    resource("/admin/imports/{key}")
                        .route(web::post().to(imports::start))
                        .route(web::get().to(imports::status)),
                )
                .service(resource("/exports/{file}").route(web::get().to(exports::download)))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::not_found("接口不存在"))
                })),
        );
}

/// A resource that answers a wrong method with a JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "该接口不支持此请求方法",
        ))
    }))
}

/// JSON bodies: size limit → 413, syntax → 400 `invalid_json`, shape → 400 `invalid_request`.
fn json_config(max_body: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body)
        .error_handler(move |err, _req| {
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::payload_too_large(max_body)
                }
                JsonPayloadError::ContentType => ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "请求需使用 Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::bad_request("invalid_request", format!("请求内容不符合要求：{e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request("invalid_json", format!("JSON 格式错误：{e}"))
                }
                other => {
                    ApiError::bad_request("invalid_json", format!("无法读取请求内容：{other}"))
                }
            };
            api.into()
        })
}

/// The client's address for limits and the audit log.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> String {
    if state.settings.trust_proxy_headers
        && let Some(ip) = req.connection_info().realip_remote_addr()
    {
        return ip.to_owned();
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
