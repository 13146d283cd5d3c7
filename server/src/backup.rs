//! `fangzha backup` and `fangzha restore` (docs/OPERATIONS.md).
//!
//! A backup is a directory: `manifest.json` (what, when, which schema, every file with its
//! size and SHA-256), the database (`fangzha.db`, a consistent online snapshot by SQLite's
//! `VACUUM INTO`; or `fangzha.pgdump`, PostgreSQL's custom format by `pg_dump`), the photo
//! variants under `blobs/` in the store's own layout, and — only when asked — the secrets
//! under `secrets/`. A directory rather than a tar file: it can be verified and restored in
//! place, and rsync/restic/borg copy the immutable photo files incrementally; `tar` it when
//! one file is wanted.
//!
//! The database is snapshotted before the photos are copied: a `blobs` row is written only
//! after both its objects are stored, so every row in the snapshot finds its files.
//!
//! Restore verifies every checksum before it writes anything, and refuses a data dir or
//! database that already holds data unless forced.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{PhotoStoreKind, Settings};
use crate::db::{self, DbUrl};

/// The manifest's file name inside a backup.
pub const MANIFEST: &str = "manifest.json";
/// `format` of a fangzha backup manifest.
pub const FORMAT: &str = "fangzha-backup";
/// The manifest layout this binary writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The SQLite snapshot inside a backup.
pub const SQLITE_FILE: &str = "fangzha.db";
/// The `pg_dump --format=custom` file inside a backup.
pub const PG_DUMP_FILE: &str = "fangzha.pgdump";
const BLOBS: &str = "blobs";
const SECRETS: &str = "secrets";
/// Secret files the server generates in the data dir (config.rs).
const SECRET_FILES: [&str; 2] = ["jwt_secret", "field_key"];

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// UTC, RFC 3339.
    pub created_at: String,
    /// The same instant in Unix milliseconds.
    pub created_at_ms: i64,
    /// `CARGO_PKG_VERSION` of the binary that wrote it.
    pub fangzha_version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Newest applied migration of the database, e.g. `20261202000006`.
    pub migration: String,
    /// `local` (copied under `blobs/`) or `s3` (not copied: the bucket has its own backup).
    pub photos: String,
    /// Public id (first 8 hex digits of its SHA-256) of the field key in force, so a restore
    /// can tell whether the key it has opens the backup's ID numbers and phones.
    pub field_key_id: Option<String>,
    /// Whether `secrets/` holds the data dir's secret files.
    pub secrets_included: bool,
    /// Every file of the backup but the manifest.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative path with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// What a backup or restore did, and what the operator still has to do.
#[derive(Debug)]
pub struct Report {
    /// The manifest written or restored.
    pub manifest: Manifest,
    /// Lines for the operator: warnings and next steps.
    pub notes: Vec<String>,
}

/// Writes a backup of the configured database and photo store into `out`, which must not
/// exist or be empty. Safe while the server runs.
pub fn backup(settings: &Settings, out: &Path, include_secrets: bool) -> anyhow::Result<Report> {
    let url = DbUrl::parse(&settings.database_url())?;
    prepare_output(out)?;
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let (database, migration) = match &url {
        DbUrl::Sqlite(path) => {
            let migration = snapshot_sqlite(path, &out.join(SQLITE_FILE))?;
            files.push(entry_of(out, SQLITE_FILE)?);
            ("sqlite", migration)
        }
        DbUrl::Postgres(pg) => {
            let migration = pg_migration(pg)?;
            match dump_postgres(pg, &out.join(PG_DUMP_FILE))? {
                true => files.push(entry_of(out, PG_DUMP_FILE)?),
                false => notes.push(format!(
                    "警告：未找到 pg_dump，数据库未备份 (pg_dump not on PATH: the database is NOT \
                     in this backup). Install postgresql-client, or run, before this command \
                     next time:\n  {}",
                    pg_dump_command(pg, &out.join(PG_DUMP_FILE))
                )),
            }
            ("postgres", migration)
        }
    };
    let photos = match settings.photos.store {
        PhotoStoreKind::Local => {
            let dir = settings.data_dir.join(BLOBS);
            for rel in blob_files(&dir)? {
                let path = format!("{BLOBS}/{rel}");
                files.push(copy_hashed(&dir.join(&rel), &out.join(&path), &path, None)?);
            }
            "local"
        }
        PhotoStoreKind::S3 => {
            notes.push(
                "照片存放在 S3 存储桶中，未复制；请使用存储桶自身的备份/版本功能 (photos are in \
                 the S3 bucket and were not copied: back the bucket up with its own versioning \
                 or replication)"
                    .into(),
            );
            "s3"
        }
    };
    if include_secrets {
        for name in SECRET_FILES {
            let src = settings.data_dir.join(name);
            if src.exists() {
                let path = format!("{SECRETS}/{name}");
                files.push(copy_hashed(&src, &out.join(&path), &path, None)?);
            }
        }
        if settings.field_key.is_some() || settings.jwt_secret.is_some() {
            notes.push(
                "密钥在配置中设置，未包含在备份中；请与配置一起保存 (keys set in the \
                 configuration are not files in the data dir: keep them with the configuration)"
                    .into(),
            );
        }
        notes.push(
            "备份含有字段密钥：任何拿到备份的人都能读取身份证号和手机号，请加密保存 (this backup \
             holds the field key: whoever has it can read ID numbers and phones; store it \
             encrypted)"
                .into(),
        );
    } else {
        notes.push(
            "备份不含密钥：没有字段密钥 field_key 就无法读取身份证号和手机号，请另行妥善保存 \
             (no secrets in this backup: without the field key the ID numbers and phones cannot \
             be read; keep <data_dir>/field_key or the configured key safe, separately)"
                .into(),
        );
    }
    let created_at_ms = db::now_ms();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created_at: rfc3339(created_at_ms),
        created_at_ms,
        fangzha_version: env!("CARGO_PKG_VERSION").into(),
        database: database.into(),
        migration,
        photos: photos.into(),
        field_key_id: field_key(settings)?.map(|k| crate::crypto::key_id(&k)),
        secrets_included: include_secrets,
        files,
    };
    // Written last, through a rename: a backup cut short has no manifest and restores nothing.
    let tmp = out.join(format!("{MANIFEST}.tmp"));
    fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, out.join(MANIFEST))?;
    Ok(Report { manifest, notes })
}

/// Reads a backup's manifest and checks every file it lists (present, same size, same
/// SHA-256). Writes nothing.
pub fn verify(from: &Path) -> anyhow::Result<Manifest> {
    let text = fs::read(from.join(MANIFEST)).with_context(|| {
        format!(
            "备份不完整：没有 {MANIFEST} (not a finished backup: no manifest in {})",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).context(
        "备份清单已损坏，无法读取 (the backup manifest is corrupt or not a fangzha manifest)",
    )?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        bail!(
            "不支持的备份格式 (unsupported backup format {} v{})",
            manifest.format,
            manifest.format_version
        );
    }
    let latest = db::latest_migration()?;
    if manifest.migration > latest {
        bail!(
            "备份来自更新的版本（数据库版本 {}，本程序最高 {latest}），请先升级 fangzha \
             (the backup's schema is newer than this binary's)",
            manifest.migration
        );
    }
    for f in &manifest.files {
        check_path(&f.path)?;
        let path = from.join(&f.path);
        let (bytes, sha256) = hash_file(&path).with_context(|| {
            format!(
                "备份缺少文件 {} (file missing or unreadable in the backup)",
                f.path
            )
        })?;
        if bytes != f.bytes || sha256 != f.sha256 {
            bail!(
                "备份已损坏：{} 的校验和不符，未写入任何数据 (corrupt backup: {} does not match \
                 its checksum; nothing was restored)",
                f.path,
                f.path
            );
        }
    }
    Ok(manifest)
}

/// Restores the backup in `from` into the configured database and data dir. Refuses a
/// corrupt backup before writing anything, and a target that holds data unless `force`.
/// The server must not be running on the target.
pub fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<Report> {
    let manifest = verify(from)?;
    let url = DbUrl::parse(&settings.database_url())?;
    let has = |p: &str| manifest.files.iter().any(|f| f.path == p);
    match (&url, manifest.database.as_str()) {
        (DbUrl::Sqlite(_), "sqlite") | (DbUrl::Postgres(_), "postgres") => {}
        (_, other) => bail!(
            "备份的数据库类型（{other}）与当前配置不同；不支持跨数据库恢复 (the backup is of a \
             {other} database; restore it into the same kind of database)"
        ),
    }
    // Every refusal before the first write.
    let blob_dir = settings.data_dir.join(BLOBS);
    if !force {
        if let DbUrl::Sqlite(path) = &url
            && fs::metadata(path).is_ok_and(|m| m.len() > 0)
        {
            bail!(
                "目标数据库已有数据，加 --force 覆盖 (the database {} already exists; stop the \
                 server and add --force to overwrite it)",
                path.display()
            );
        }
        if let DbUrl::Postgres(pg) = &url
            && has(PG_DUMP_FILE)
            && pg_has_schema(pg)?
        {
            bail!(
                "目标 PostgreSQL 数据库不是空的 (the target PostgreSQL database already has \
                 fangzha tables: restore into a new, empty database, e.g. createdb)"
            );
        }
        if !blob_files(&blob_dir)?.is_empty() {
            bail!(
                "数据目录中已有照片，加 --force 覆盖 ({} already holds photos; add --force to \
                 restore over them)",
                blob_dir.display()
            );
        }
        for name in SECRET_FILES {
            let ours = settings.data_dir.join(name);
            let theirs = from.join(SECRETS).join(name);
            if has(&format!("{SECRETS}/{name}"))
                && ours.exists()
                && fs::read(&ours)? != fs::read(&theirs)?
            {
                bail!(
                    "数据目录中已有不同的 {name}，加 --force 覆盖 ({} differs from the backup's; \
                     add --force to replace it)",
                    ours.display()
                );
            }
        }
    } else if let DbUrl::Postgres(_) = &url
        && has(PG_DUMP_FILE)
    {
        // pg_restore --clean would drop tables the dump does not know; refuse rather than guess.
        bail!(
            "PostgreSQL 不支持 --force：请恢复到新建的空数据库 (restore a PostgreSQL backup \
             into a new, empty database; --force does not apply)"
        );
    }

    let mut notes = Vec::new();
    fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    for f in &manifest.files {
        let src = from.join(&f.path);
        if f.path == SQLITE_FILE {
            let DbUrl::Sqlite(target) = &url else {
                unreachable!("checked above")
            };
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            // A stale WAL beside the new file would be replayed into it.
            for suffix in ["-wal", "-shm"] {
                let side = PathBuf::from(format!("{}{suffix}", target.display()));
                if side.exists() {
                    fs::remove_file(&side)?;
                }
            }
            copy_hashed(&src, target, &f.path, Some(f))?;
        } else if f.path == PG_DUMP_FILE {
            let DbUrl::Postgres(pg) = &url else {
                unreachable!("checked above")
            };
            if !restore_postgres(pg, &src)? {
                notes.push(format!(
                    "警告：未找到 pg_restore，数据库未恢复 (pg_restore not on PATH: the database \
                     was NOT restored). Install postgresql-client and run:\n  {}",
                    pg_restore_command(pg, &src)
                ));
            }
        } else if let Some(rel) = f.path.strip_prefix(&format!("{BLOBS}/")) {
            if settings.photos.store == PhotoStoreKind::Local {
                copy_hashed(&src, &blob_dir.join(rel), &f.path, Some(f))?;
            }
        } else if let Some(name) = f.path.strip_prefix(&format!("{SECRETS}/")) {
            copy_hashed(&src, &settings.data_dir.join(name), &f.path, Some(f))?;
        }
    }
    if manifest.database == "postgres" && !has(PG_DUMP_FILE) {
        notes.push(
            "此备份不含数据库转储；请用 pg_restore 恢复另行保存的转储 (this backup holds no \
             database dump: restore your separate pg_dump file with pg_restore)"
                .into(),
        );
    }
    if settings.photos.store == PhotoStoreKind::S3 && has_blobs(&manifest) {
        notes.push(format!(
            "照片未恢复到 S3 (photos were not written to the S3 store): copy {} into the \
             bucket, e.g. aws s3 sync",
            from.join(BLOBS).display()
        ));
    }
    if manifest.photos == "s3" {
        notes.push(
            "备份时照片在 S3 存储桶中，需从存储桶自身的备份恢复 (photos were in S3 when this \
             backup was made: restore them from the bucket's own backup)"
                .into(),
        );
    }
    match (&manifest.field_key_id, field_key(settings)?) {
        (Some(wanted), Some(key)) if crate::crypto::key_id(&key) != *wanted => notes.push(format!(
            "警告：当前字段密钥（{}）不是备份时的密钥（{wanted}），身份证号和手机号将无法读取 \
             (the field key in place is not the backup's: put the backup's key back, or list \
             it in old_field_keys)",
            crate::crypto::key_id(&key)
        )),
        (Some(wanted), None) => notes.push(format!(
            "警告：没有字段密钥。启动服务器之前，请把备份时的 field_key（编号 {wanted}）放到 {} \
             或配置中，否则身份证号和手机号无法读取 (no field key: put the backup's key \
             back before starting the server)",
            settings.data_dir.join("field_key").display()
        )),
        _ => {}
    }
    Ok(Report { manifest, notes })
}

fn has_blobs(manifest: &Manifest) -> bool {
    manifest
        .files
        .iter()
        .any(|f| f.path.starts_with(&format!("{BLOBS}/")))
}

/// Creates `out` (mode 0700: it holds personal data) or accepts it empty.
fn prepare_output(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        if fs::read_dir(out)?.next().is_some() {
            bail!(
                "备份目录不是空的 (the backup directory {} is not empty)",
                out.display()
            );
        }
    } else {
        fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(out, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

const MIGRATION_SQL: &str = "SELECT MAX(version) AS v FROM __diesel_schema_migrations";

/// `VACUUM INTO` a fresh file: one read transaction, so a consistent snapshot while the
/// server writes (WAL lets readers and the writer run side by side). Returns the migration.
fn snapshot_sqlite(db: &Path, into: &Path) -> anyhow::Result<String> {
    use diesel::connection::SimpleConnection;
    if !db.exists() {
        bail!("数据库文件不存在 (no database at {})", db.display());
    }
    let mut conn = diesel::sqlite::SqliteConnection::establish(&db.to_string_lossy())
        .with_context(|| format!("opening {}", db.display()))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    let migration = diesel::sql_query(MIGRATION_SQL)
        .load::<Version>(&mut conn)
        .context("reading the schema version (is this a fangzha database?)")?
        .pop()
        .and_then(|r| r.v)
        .unwrap_or_default();
    let target = into
        .to_str()
        .context("the backup path must be valid UTF-8")?
        .replace('\'', "''");
    conn.batch_execute(&format!("VACUUM INTO '{target}'"))
        .context("snapshotting the SQLite database (VACUUM INTO)")?;
    Ok(migration)
}

fn pg_migration(url: &str) -> anyhow::Result<String> {
    let mut conn = diesel::pg::PgConnection::establish(url).context("connecting to PostgreSQL")?;
    Ok(diesel::sql_query(MIGRATION_SQL)
        .load::<Version>(&mut conn)
        .context("reading the schema version (is this a fangzha database?)")?
        .pop()
        .and_then(|r| r.v)
        .unwrap_or_default())
}

/// Whether a PostgreSQL database already has fangzha's migrations table.
fn pg_has_schema(url: &str) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        e: bool,
    }
    let mut conn = diesel::pg::PgConnection::establish(url).context("connecting to PostgreSQL")?;
    let rows: Vec<Exists> =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS e")
            .load(&mut conn)?;
    Ok(rows.first().is_some_and(|r| r.e))
}

/// A PostgreSQL URL without its password, and the password (for `PGPASSWORD`, so it never
/// shows in a process list or a printed command).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = rest[..at].split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{}{user}{}", &url[..scheme_end], &rest[at..]),
        Some(percent_decode(password)),
    )
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn pg_dump_command(url: &str, file: &Path) -> String {
    format!(
        "pg_dump --format=custom --file={} {}",
        shell_quote(&file.display().to_string()),
        shell_quote(&split_password(url).0)
    )
}

fn pg_restore_command(url: &str, file: &Path) -> String {
    format!(
        "pg_restore --no-owner --exit-on-error --dbname={} {}",
        shell_quote(&split_password(url).0),
        shell_quote(&file.display().to_string())
    )
}

/// Runs `pg_dump --format=custom`; `false` when pg_dump is not installed. Its snapshot is one
/// transaction, like SQLite's.
fn dump_postgres(url: &str, file: &Path) -> anyhow::Result<bool> {
    let (url, password) = split_password(url);
    let mut cmd = Command::new("pg_dump");
    cmd.arg("--format=custom").arg("--file").arg(file).arg(&url);
    run_pg_tool(cmd, password, "pg_dump")
}

/// Runs `pg_restore` into an empty database; `false` when it is not installed.
fn restore_postgres(url: &str, file: &Path) -> anyhow::Result<bool> {
    let (url, password) = split_password(url);
    let mut cmd = Command::new("pg_restore");
    cmd.args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&url)
        .arg(file);
    run_pg_tool(cmd, password, "pg_restore")
}

fn run_pg_tool(mut cmd: Command, password: Option<String>, name: &str) -> anyhow::Result<bool> {
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("running {name}")),
    };
    if !out.status.success() {
        bail!(
            "{name} 失败 ({name} failed): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(true)
}

/// The field key in force without generating one: the configured key, else the data dir's
/// `field_key` file if there is one.
fn field_key(settings: &Settings) -> anyhow::Result<Option<[u8; 32]>> {
    let hex = match &settings.field_key {
        Some(k) => k.clone(),
        None => {
            let file = settings.data_dir.join("field_key");
            if !file.exists() {
                return Ok(None);
            }
            SecretString::from(fs::read_to_string(&file)?.trim().to_owned())
        }
    };
    if hex.expose_secret().is_empty() {
        return Ok(None);
    }
    crate::config::parse_key(&hex).map(Some)
}

/// Photo variant files under the local store's root, relative and `/`-separated, sorted.
/// Only the store's own layout (`ab/<digest>/<variant>.jpg`) counts: object_store's staging
/// files of a write in progress are skipped.
fn blob_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let Ok(fans) = fs::read_dir(root) else {
        return Ok(out);
    };
    for fan in fans {
        let fan = fan?;
        let fan_name = fan.file_name().to_string_lossy().into_owned();
        if !fan.file_type()?.is_dir() || fan_name.len() != 2 {
            continue;
        }
        for digest in fs::read_dir(fan.path())? {
            let digest = digest?;
            let name = digest.file_name().to_string_lossy().into_owned();
            if !digest.file_type()?.is_dir()
                || crate::media::Digest::parse(&name).is_none()
                || !name.starts_with(&fan_name)
            {
                continue;
            }
            for variant in crate::media::store::Variant::ALL {
                let file = format!("{}.jpg", variant.as_str());
                if digest.path().join(&file).is_file() {
                    out.push(format!("{fan_name}/{name}/{file}"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A manifest path must be one of the backup's own kinds of file, relative, without `..`:
/// a crafted manifest must not make restore write outside the data dir.
fn check_path(path: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = parts.iter().all(|p| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    });
    let known = match parts.as_slice() {
        [f] => *f == SQLITE_FILE || *f == PG_DUMP_FILE,
        [BLOBS, _, _, _] => true,
        [SECRETS, name] => SECRET_FILES.contains(name),
        _ => false,
    };
    if !plain || !known {
        bail!("备份清单中有非法路径 (the manifest lists an unexpected path: {path:?})");
    }
    Ok(())
}

fn entry_of(root: &Path, rel: &str) -> anyhow::Result<FileEntry> {
    let (bytes, sha256) = hash_file(&root.join(rel))?;
    Ok(FileEntry {
        path: rel.to_owned(),
        bytes,
        sha256,
    })
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Copies `src` to `dst` through a temporary file and a rename, hashing on the way. With
/// `expect`, a copy whose bytes differ from the entry is removed and refused (the backup
/// changed since it was verified).
fn copy_hashed(
    src: &Path,
    dst: &Path,
    rel: &str,
    expect: Option<&FileEntry>,
) -> anyhow::Result<FileEntry> {
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = PathBuf::from(format!("{}.partial", dst.display()));
    let result = (|| -> anyhow::Result<FileEntry> {
        let mut input =
            fs::File::open(src).with_context(|| format!("reading {}", src.display()))?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            // Secrets and personal data: owner only, like the data dir's own secret files.
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut output = options
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n])?;
            bytes += n as u64;
        }
        output.sync_all()?;
        let entry = FileEntry {
            path: rel.to_owned(),
            bytes,
            sha256: hex::encode(hasher.finalize()),
        };
        if let Some(want) = expect
            && (want.bytes != entry.bytes || want.sha256 != entry.sha256)
        {
            bail!("{rel} changed while it was restored (checksum mismatch)");
        }
        Ok(entry)
    })();
    match result {
        Ok(entry) => {
            fs::rename(&tmp, dst).with_context(|| format!("writing {}", dst.display()))?;
            Ok(entry)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// `2026-12-02T04:05:06Z` of Unix milliseconds.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::domain::calendar::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_out_of_commands() {
        let (url, pw) = split_password("postgres://fz:p%40ss:w@db.local:5432/fangzha?x=1");
        assert_eq!(url, "postgres://fz@db.local:5432/fangzha?x=1");
        assert_eq!(pw.as_deref(), Some("p@ss:w"));
        let (url, pw) = split_password("postgres://postgres@127.0.0.1/postgres");
        assert_eq!(url, "postgres://postgres@127.0.0.1/postgres");
        assert_eq!(pw, None);
        let cmd = pg_dump_command("postgres://a:secret@h/db", Path::new("/b/it's"));
        assert!(!cmd.contains("secret"), "{cmd}");
        assert!(cmd.contains(r"'/b/it'\''s'"), "{cmd}");
    }

    #[test]
    fn manifest_paths_cannot_leave_the_data_dir() {
        for ok in [
            "fangzha.db",
            "fangzha.pgdump",
            "blobs/ab/abcd/display.jpg",
            "secrets/field_key",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../fangzha.db",
            "/etc/passwd",
            "blobs/../../x/y",
            "blobs/ab/./display.jpg",
            "secrets/authorized_keys",
            "config.toml",
            "blobs/ab//display.jpg",
            "",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_184_306_789), "2026-12-02T04:05:06Z");
    }
}
