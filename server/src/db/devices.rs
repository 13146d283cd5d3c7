//! Devices: a client_id belongs to the first user that sends it.

use diesel::prelude::*;

use super::DbConn;
use super::schema::devices;
use crate::error::{ApiError, ApiResult};

/// Binds `client_id` to `user_id` on first use and returns its last applied mid;
/// 403 `client_id_taken` when another user owns it. Safe outside a transaction: when two
/// requests bind the same new id at once, the loser of the insert reads the winner's row.
pub fn claim(conn: &mut DbConn, client_id: &str, user_id: &str, now_ms: i64) -> ApiResult<i64> {
    if let Some(found) = owner(conn, client_id)? {
        return check_owner(found, user_id);
    }
    let inserted = diesel::insert_into(devices::table)
        .values((
            devices::client_id.eq(client_id),
            devices::user_id.eq(user_id),
            devices::last_mid.eq(0i64),
            devices::first_seen_ms.eq(now_ms),
            devices::last_seen_ms.eq(now_ms),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(0),
        Err(e) if super::is_unique_violation(&e) => match owner(conn, client_id)? {
            Some(found) => check_owner(found, user_id),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

fn owner(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<(String, i64)>> {
    devices::table
        .find(client_id)
        .select((devices::user_id, devices::last_mid))
        .load(conn)
        .map(super::first_row)
}

fn check_owner((owner, last_mid): (String, i64), user_id: &str) -> ApiResult<i64> {
    if owner == user_id {
        Ok(last_mid)
    } else {
        Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "client_id_taken",
            "此设备编号已属于其他用户；请在本机退出后重新登录，或清除应用数据",
        ))
    }
}

/// Stores the last applied mid after a batch.
pub fn set_last_mid(
    conn: &mut DbConn,
    client_id: &str,
    last_mid: i64,
    now_ms: i64,
) -> QueryResult<()> {
    diesel::update(devices::table.find(client_id))
        .set((
            devices::last_mid.eq(last_mid),
            devices::last_seen_ms.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}
