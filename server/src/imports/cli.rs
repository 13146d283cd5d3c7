//! `fangzha import households|boundaries|users FILE [--village V] [--dry-run] [--as USER]`:
//! the same import as the upload page, run in the foreground with the report printed.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Format, Input, Kind, Progress, State};
use crate::db::{self, Pool};
use crate::sync::SyncContext;

/// Runs an import from a file and prints its report; fails when the file is rejected.
pub async fn run(
    pool: Pool,
    sync: std::sync::Arc<SyncContext>,
    kind: &str,
    file: &Path,
    village: Option<String>,
    dry_run: bool,
    as_user: Option<String>,
) -> anyhow::Result<()> {
    let kind = Kind::parse(kind)
        .with_context(|| format!("未知的导入类型 {kind}：应为 households、boundaries 或 users"))?;
    let bytes = std::fs::read(file).with_context(|| format!("读取 {}", file.display()))?;
    let format = file
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::parse)
        .unwrap_or_else(|| Format::sniff(&bytes));
    let report = actix_web::web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        let admin = importing_admin(&mut conn, as_user.as_deref())?;
        let input = Input {
            kind,
            format,
            bytes,
            village,
            dry_run,
            user_id: admin,
        };
        super::run(&mut conn, &sync, &input, &Progress::default())
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await??;
    match report.state {
        State::Done => {
            println!(
                "{}",
                if dry_run {
                    "检查通过，未写入任何数据 (dry run: valid, nothing written)"
                } else {
                    "导入完成 (import done)"
                }
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&Value::Object(report.result)).unwrap_or_default()
            );
            if !report.passwords.is_empty() {
                println!("生成的初始密码，只显示这一次 (generated passwords, shown once):");
                for (username, password) in &report.passwords {
                    println!("{username}\t{password}");
                }
            }
            Ok(())
        }
        _ => {
            for e in &report.errors {
                eprintln!("{}", e.message);
            }
            bail!(
                "导入被拒绝，没有写入任何数据：{} 处错误 (import rejected, nothing written)",
                report.errors.len()
            )
        }
    }
}

/// The admin the import is recorded under: `--as USERNAME`, else the oldest active admin.
fn importing_admin(conn: &mut db::DbConn, username: Option<&str>) -> anyhow::Result<String> {
    let admins: Vec<db::users::UserRow> = db::users::list(conn)?
        .into_iter()
        .filter(|u| u.role == "admin" && !u.disabled)
        .collect();
    let chosen = match username {
        Some(name) => admins.into_iter().find(|u| u.username == name),
        None => admins.into_iter().min_by_key(|u| u.created_at_ms),
    };
    match chosen {
        Some(u) => Ok(u.id),
        None => bail!(
            "找不到可记录此次导入的管理员账号：请先用 `fangzha user add --role admin` 创建，或用 --as 指定 (no admin account)"
        ),
    }
}
