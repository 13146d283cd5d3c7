//! Extractors: `AuthUser` for any signed-in caller, `AdminUser` for the admin API.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::db;
use crate::domain::account::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The caller, as the database knows them at this request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Current role.
    pub role: Role,
    /// Ids of the areas held now.
    pub areas: Vec<String>,
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<AuthUser>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("AppState missing"))?;
            let token = token.ok_or_else(|| {
                ApiError::unauthorized("unauthorized", "请先登录（缺少登录凭证）")
            })?;
            let claims = state.jwt.verify(&token)?;
            let user_id = claims.sub;
            let (user, areas) = db::run(&state.pool, move |conn| {
                let user = db::users::get(conn, &user_id)?;
                let areas = match &user {
                    Some(u) => db::users::current_area_ids(conn, &u.id)?,
                    None => Vec::new(),
                };
                Ok((user, areas))
            })
            .await?;
            let user = user.filter(|u| !u.disabled).ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "账号不存在或已停用，请重新登录")
            })?;
            let role = Role::parse(&user.role).ok_or_else(|| {
                anyhow::anyhow!("user {} has unknown role {}", user.id, user.role)
            })?;
            Ok(AuthUser {
                id: user.id,
                username: user.username,
                name: user.name,
                role,
                areas,
            })
        })
    }
}

/// A caller with the admin role; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<AdminUser>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            user.require(&[Role::Admin])?;
            Ok(AdminUser(user))
        })
    }
}
