//! `GET /api/exports/{name}.{xlsx|csv|geojson}`: a download of the records the caller may
//! read, masked by role, built on a blocking thread.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::auth::AuthUser;
use crate::db::{self, now_ms};
use crate::domain::calendar::today_china;
use crate::error::{ApiError, ApiResult};
use crate::exports::{self, EXPORTS, FileFormat};
use crate::state::AppState;

/// `GET /api/exports/{file}`: `households.xlsx`, `rentals.geojson`, …
pub async fn download(
    user: AuthUser,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let file = file.into_inner();
    let names = EXPORTS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join("、");
    let (name, ext) = file.rsplit_once('.').unwrap_or((&file, ""));
    let spec = EXPORTS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found(format!("没有这种导出：可导出 {names}")))?;
    let format = FileFormat::parse(ext)
        .ok_or_else(|| ApiError::not_found("导出格式必须是 .xlsx、.csv 或 .geojson"))?;
    if format == FileFormat::GeoJson && !spec.geo {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "只有住户和出租房可以导出为 GeoJSON（带位置）",
        ));
    }
    let st = state.clone();
    let (title, bytes) = db::run(&state.pool, move |conn| {
        let table = exports::build(conn, &st.sync, &user.id, user.role, spec, now_ms())?;
        let bytes = exports::write(&table, format)?;
        Ok((table.title, bytes))
    })
    .await?;
    let (y, m, d) = today_china();
    let date = format!("{y:04}-{m:02}-{d:02}");
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            exports::content_disposition(title, spec.name, &date, format.ext()),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(bytes))
}
