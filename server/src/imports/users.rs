//! Accounts from CSV/XLSX: username, name, role (Chinese role names accepted), areas (ids or
//! names, `村/网格` paths, separated by `;` or `、`), and an optional password. Rows without
//! one get a generated password, returned once in the job result for the admin to hand out.
//! Every row goes through `services::accounts` (the admin API's checks); an existing
//! username rejects the file rather than silently changing someone's role or password.

use std::collections::HashMap;

use rand::Rng;
use serde_json::{Map, json};

use super::areas::AreaIndex;
use super::table::{self, Columns};
use super::{Input, Progress, Report, RowError, State, Stop, settle, split_list};
use crate::auth::password;
use crate::db::{self, DbConn};
use crate::domain::account::Role;
use crate::error::{ApiError, ApiResult};
use crate::services::accounts::{self, NewUser};

/// Accepted headers per field.
pub const ALIASES: &[(&str, &[&str])] = &[
    ("username", &["用户名", "账号", "登录名", "username"]),
    ("name", &["姓名", "name"]),
    ("role", &["角色", "role"]),
    (
        "areas",
        &["区域", "负责区域", "管辖区域", "网格", "所属区域", "areas"],
    ),
    ("password", &["密码", "初始密码", "password"]),
];

/// A role from its wire name or a Chinese name.
pub fn parse_role(s: &str) -> Option<Role> {
    let s = table::normalise_header(s);
    Role::parse(&s).or(match s.as_str() {
        "管理员" | "镇综治办" | "镇综治办管理员" | "综治办" => Some(Role::Admin),
        "村干部" | "村(居)干部" | "村居干部" | "干部" => Some(Role::Cadre),
        "网格员" => Some(Role::GridWorker),
        "民警" | "辖区民警" | "警察" => Some(Role::Police),
        "领导" | "只读" | "领导小组" | "领导小组(只读)" | "领导(只读)" => {
            Some(Role::Viewer)
        }
        _ => None,
    })
}

/// A generated password: 12 characters without look-alikes (0/O, 1/l/I).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

struct Plan {
    row: usize,
    user: NewUser,
    role: Role,
    name: String,
    generated: bool,
}

/// Reads, validates and (unless a dry run) creates the accounts.
pub fn run(conn: &mut DbConn, input: &Input, progress: &Progress) -> ApiResult<Report> {
    let table = match table::read(&input.bytes, input.format) {
        Ok(t) => t,
        Err(m) => {
            return Ok(Report::rejected(
                vec![RowError::file("unreadable_file", m)],
                0,
                0,
            ));
        }
    };
    let total = table.rows.len() as u64;
    progress.phase(1, total);
    let cols = Columns::map(&table.headers, ALIASES);
    let mut errors = Vec::new();
    for (field, label) in [("username", "用户名"), ("role", "角色")] {
        if !cols.has(field) {
            errors.push(RowError {
                row: 1,
                column: None,
                code: "missing_column".into(),
                message: format!("缺少「{label}」列（表头在第 1 行）"),
            });
        }
    }
    if !errors.is_empty() {
        return Ok(Report::rejected(errors, 0, total));
    }
    let areas = AreaIndex::new(db::areas::list(conn)?);
    let mut plans = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in &table.rows {
        progress.step();
        let before = errors.len();
        let username = cols.get(row, "username").unwrap_or_default().to_owned();
        let role = match cols.get(row, "role").map(|r| (r, parse_role(r))) {
            Some((_, Some(role))) => Some(role),
            Some((text, None)) => {
                errors.push(RowError::cell(
                    row.number,
                    &cols.name_of("role"),
                    "invalid_value",
                    format!("未知角色「{text}」：应为 管理员、村干部、网格员、民警 或 领导(只读)"),
                ));
                None
            }
            None => {
                errors.push(RowError::cell(
                    row.number,
                    &cols.name_of("role"),
                    "missing_value",
                    "角色不能为空",
                ));
                None
            }
        };
        let mut area_ids = Vec::new();
        for item in split_list(cols.get(row, "areas").unwrap_or_default()) {
            match find_area(&areas, &item) {
                Ok(id) => area_ids.push(id),
                Err(m) => errors.push(RowError::cell(
                    row.number,
                    &cols.name_of("areas"),
                    "unknown_area",
                    m,
                )),
            }
        }
        let given = cols.get(row, "password").map(str::to_owned);
        let generated = given.is_none();
        let user = NewUser {
            username: username.clone(),
            password: given.unwrap_or_else(generate_password),
            name: cols.get(row, "name").map(str::to_owned),
            role: role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            areas: area_ids,
        };
        let checked = match accounts::check(&user) {
            Ok(c) => Some(c),
            Err(e) => {
                // The role was reported above already.
                if role.is_some() {
                    errors.push(api_to_row(row.number, &cols, e));
                }
                None
            }
        };
        if let Some(first) = seen.insert(username.to_ascii_lowercase(), row.number) {
            errors.push(RowError::cell(
                row.number,
                &cols.name_of("username"),
                "duplicate_username",
                format!("与第 {first} 行的用户名重复"),
            ));
        } else if !username.is_empty() && db::users::by_username(conn, &username)?.is_some() {
            errors.push(RowError::cell(
                row.number,
                &cols.name_of("username"),
                "username_taken",
                format!("用户名「{username}」已存在"),
            ));
        }
        if errors.len() > before {
            continue;
        }
        if let Some((role, name)) = checked {
            plans.push(Plan {
                row: row.number,
                user,
                role,
                name,
                generated,
            });
        }
    }
    if !errors.is_empty() {
        errors.truncate(super::MAX_ERRORS);
        return Ok(Report::rejected(errors, total, total));
    }
    let mut result = Map::new();
    result.insert("created".into(), json!({"users": plans.len()}));
    result.insert("ignored_columns".into(), json!(cols.ignored));
    if input.dry_run {
        return Ok(Report {
            state: State::Done,
            processed: total,
            total,
            errors: Vec::new(),
            result,
            passwords: Vec::new(),
        });
    }
    // Hashing is the slow part (argon2): done before the transaction, so the write lock is
    // held only for the inserts.
    progress.phase(2, plans.len() as u64);
    let mut hashes = Vec::with_capacity(plans.len());
    for plan in &plans {
        hashes.push(password::hash(&plan.user.password)?);
        progress.step();
    }
    let passwords: Vec<(String, String)> = plans
        .iter()
        .filter(|p| p.generated)
        .map(|p| (p.user.username.clone(), p.user.password.clone()))
        .collect();
    let out = db::write_tx(conn, |conn| {
        let mut errors = Vec::new();
        for (plan, hash) in plans.into_iter().zip(hashes) {
            let row = plan.row;
            match accounts::insert(
                conn,
                plan.user,
                plan.role,
                &plan.name,
                hash,
                Some(&input.user_id),
            ) {
                Ok(_) => {}
                Err(e @ ApiError::Http { .. }) => errors.push(api_to_row(row, &cols, e)),
                Err(e) => return Err(Stop::Api(e)),
            }
        }
        if !errors.is_empty() {
            return Err(Stop::Rows(errors));
        }
        Ok(Report {
            state: State::Done,
            processed: total,
            total,
            errors: Vec::new(),
            result,
            passwords,
        })
    });
    settle(out, total, total)
}

/// An area by id, by unique name, or by a `村/网格` path.
fn find_area(areas: &AreaIndex, text: &str) -> Result<String, String> {
    if areas.get(text).is_some() {
        return Ok(text.to_owned());
    }
    if let Some((village, grid)) = text.split_once(['/', '／']) {
        let v = areas.find(village, "village", None)?;
        return Ok(areas.find(grid, "grid", Some(&v.id))?.id.clone());
    }
    let matches: Vec<_> = areas.all().iter().filter(|a| a.name == text).collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(format!("区域「{text}」不存在")),
        _ => Err(format!(
            "有多个名为「{text}」的区域，请写成「村名/网格名」或填写区域编号"
        )),
    }
}

/// A service refusal as a row error, in the column of the field it names.
fn api_to_row(row: usize, cols: &Columns, e: ApiError) -> RowError {
    match e {
        ApiError::Http {
            code,
            message,
            extra,
            ..
        } => {
            let field = extra
                .get("field")
                .and_then(|f| f.as_str())
                .unwrap_or("username");
            RowError::cell(row, &cols.name_of(field), code, message)
        }
        ApiError::Internal(_) => RowError::row(row, "internal_error", "服务器内部错误"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_chinese_name() {
        assert_eq!(parse_role("网格员"), Some(Role::GridWorker));
        assert_eq!(parse_role("领导（只读）"), Some(Role::Viewer));
        assert_eq!(parse_role("民警"), Some(Role::Police));
        assert_eq!(parse_role("cadre"), Some(Role::Cadre));
        assert_eq!(parse_role("村长"), None);
    }

    #[test]
    fn generated_passwords_pass_the_rules() {
        let p = generate_password();
        assert_eq!(p.len(), 12);
        assert!(crate::domain::account::check_password(&p).is_ok());
    }
}
