//! The `fangzha` command line.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::services::accounts::{self, NewUser};
use crate::startup::Application;
use crate::{db, demo, telemetry};

/// 防诈 — the township anti-telecom-fraud campaign server.
#[derive(Debug, Parser)]
#[command(name = "fangzha", version, about)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// TOML configuration file (default: ./fangzha.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH, a file path, or postgres://… (FANGZHA__DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Data directory for the SQLite file, secrets and photos (FANGZHA__DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server with the embedded app (the default).
    Serve {
        /// Listen address, e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Load a demo township with one account per role (passwords printed once).
    Demo,
    /// Import a file as an admin, all or nothing: households (CSV/XLSX roster), boundaries
    /// (GeoJSON grid polygons) or users (CSV/XLSX accounts).
    Import {
        /// households, boundaries or users.
        kind: String,
        /// The file: .csv, .xlsx or .geojson.
        file: PathBuf,
        /// Village (id or name) for rows or features that name none.
        #[arg(long)]
        village: Option<String>,
        /// Check the file and report; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Username of the admin the import is recorded under (default: the oldest admin).
        #[arg(long = "as", value_name = "USERNAME")]
        as_user: Option<String>,
    },
    /// Delete photos that no record has referred to for a while (a dry run unless --apply).
    Gc {
        /// Only photos unreferred for at least this many days.
        #[arg(long, value_name = "N")]
        older_than_days: u32,
        /// Delete them; without it the command only lists them.
        #[arg(long)]
        apply: bool,
    },
    /// Back up the database, photos and a checksummed manifest into a new directory; safe
    /// while the server runs (docs/OPERATIONS.md).
    Backup {
        /// The backup directory (created; must be empty if it exists).
        out: PathBuf,
        /// Also copy the data dir's secrets (jwt_secret, field_key): the backup then opens
        /// the ID numbers and phones by itself, so keep it encrypted.
        #[arg(long)]
        include_secrets: bool,
    },
    /// Restore a backup into an empty database and data dir; checks every checksum first.
    Restore {
        /// A directory written by `fangzha backup`.
        from: PathBuf,
        /// Overwrite an existing SQLite database, photos and secrets (stop the server first).
        #[arg(long)]
        force: bool,
    },
    /// Flag engine commands.
    Flags {
        #[command(subcommand)]
        command: FlagsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum FlagsCommand {
    /// Recompute every household's and rental's flags (after a rules change or an import).
    Recompute,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input (one line).
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin, cadre, grid_worker, police or viewer.
        #[arg(long)]
        role: String,
        /// Display name (default: the username).
        #[arg(long)]
        name: Option<String>,
        /// Area id held from now on; repeat for several.
        #[arg(long = "area", value_name = "AREA_ID")]
        areas: Vec<String>,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Parses arguments and runs the command.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bind = match &cli.command {
        Some(Command::Serve { bind }) => bind.clone(),
        _ => None,
    };
    let settings = Settings::load(&Overrides {
        config_file: cli.global.config,
        database_url: cli.global.database,
        data_dir: cli.global.data_dir,
        bind,
    })?;
    telemetry::init(settings.log_format, &settings.log_level);
    match cli.command.unwrap_or(Command::Serve { bind: None }) {
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            let pool = open(&settings).await?;
            let applied = actix_web::web::block(move || db::migrate(&mut *pool.get()?)).await??;
            if applied.is_empty() {
                println!("数据库已是最新 (database is up to date)");
            } else {
                println!("已应用迁移 (applied): {}", applied.join(", "));
            }
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    name,
                    areas,
                    password_stdin: _,
                },
        } => {
            let password = read_password_line()?;
            let pool = open_migrated(&settings).await?;
            let (user, _) = accounts::create(
                &pool,
                NewUser {
                    username,
                    password,
                    name,
                    role,
                    areas,
                },
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("已创建用户 (created) {} id={}", user.username, user.id);
            Ok(())
        }
        Command::Demo => {
            let pool = open_migrated(&settings).await?;
            demo::load(&pool, sync_context(&settings)?).await
        }
        Command::Import {
            kind,
            file,
            village,
            dry_run,
            as_user,
        } => {
            let pool = open_migrated(&settings).await?;
            let sync = sync_context(&settings)?;
            crate::imports::cli::run(pool, sync, &kind, &file, village, dry_run, as_user).await
        }
        Command::Gc {
            older_than_days,
            apply,
        } => {
            let pool = open_migrated(&settings).await?;
            let media = crate::media::Media::open(&settings)?;
            let report = crate::media::gc::collect(&pool, &media, older_than_days, apply).await?;
            for b in &report.blobs {
                println!(
                    "photo {} {}x{} {} bytes",
                    b.sha256,
                    b.width,
                    b.height,
                    b.display_bytes + b.thumb_bytes
                );
            }
            for (id, info, received) in &report.uploads {
                println!(
                    "upload {} {}/{} bytes for {}",
                    id.as_str(),
                    received,
                    info.length,
                    info.sha256
                );
            }
            if apply {
                println!(
                    "已删除 {} 张照片、{} 个未完成上传 (deleted photos, partial uploads)",
                    report.deleted_blobs, report.deleted_uploads
                );
            } else {
                println!(
                    "演练：{} 张照片、{} 个未完成上传可删除；加 --apply 执行 (dry run: add --apply to delete)",
                    report.blobs.len(),
                    report.uploads.len()
                );
            }
            Ok(())
        }
        Command::Backup {
            out,
            include_secrets,
        } => {
            let report = actix_web::web::block(move || {
                crate::backup::backup(&settings, &out, include_secrets).map(|r| (r, out))
            })
            .await??;
            let (report, out) = report;
            for note in &report.notes {
                eprintln!("{note}");
            }
            println!(
                "已备份 (backed up) {} 个文件到 {} (database {}, schema {})",
                report.manifest.files.len(),
                out.display(),
                report.manifest.database,
                report.manifest.migration
            );
            Ok(())
        }
        Command::Restore { from, force } => {
            let report =
                actix_web::web::block(move || crate::backup::restore(&settings, &from, force))
                    .await??;
            for note in &report.notes {
                eprintln!("{note}");
            }
            println!(
                "已恢复 (restored) {} 个文件，备份时间 {} (schema {})",
                report.manifest.files.len(),
                report.manifest.created_at,
                report.manifest.migration
            );
            Ok(())
        }
        Command::Flags {
            command: FlagsCommand::Recompute,
        } => {
            let pool = open_migrated(&settings).await?;
            let sync = sync_context(&settings)?;
            let written = db::run_tx(&pool, move |conn| {
                crate::flags::recompute_all(conn, &sync, db::now_ms())
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("已重新计算提示，写入 {written} 处变更 (flag changes written)");
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let bind = settings.bind.clone();
    let scheme = if settings.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let db_kind = if db::DbUrl::parse(&settings.database_url())?.is_sqlite() {
        "sqlite"
    } else {
        "postgres"
    };
    let app = Application::build(settings).await?;
    tracing::info!(%bind, port = app.port(), scheme, database = db_kind, "fangzha listening");
    app.run_until_stopped().await?;
    Ok(())
}

fn sync_context(settings: &Settings) -> anyhow::Result<std::sync::Arc<crate::sync::SyncContext>> {
    let secrets = crate::config::Secrets::resolve(settings)?;
    Ok(std::sync::Arc::new(crate::sync::SyncContext::new(
        secrets.cipher(),
        &settings.campaign_start,
        crate::config::risk_rules(settings)?,
    )))
}

async fn open(settings: &Settings) -> anyhow::Result<db::Pool> {
    let url = settings.database_url();
    actix_web::web::block(move || db::connect(&url, 2)).await?
}

async fn open_migrated(settings: &Settings) -> anyhow::Result<db::Pool> {
    let pool = open(settings).await?;
    let p = pool.clone();
    actix_web::web::block(move || db::migrate(&mut *p.get()?)).await??;
    Ok(pool)
}

/// One line from standard input without its line ending.
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password).to_owned();
    if password.is_empty() {
        bail!("标准输入中没有密码 (no password on standard input)");
    }
    Ok(password)
}
