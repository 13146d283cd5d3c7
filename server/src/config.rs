//! Layered configuration: built-in defaults < optional TOML file < `FANGZHA__*` environment
//! variables < command-line flags. Secrets missing from all of them are generated once into
//! the data directory (mode 0600) so a fresh clone runs without any set-up; they are never
//! logged (`SecretString` redacts them in `Debug`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything the server reads at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP listener binds, e.g. `127.0.0.1:8080`.
    pub bind: String,
    /// PEM certificate chain: with `tls_key`, the listener speaks HTTPS (rustls) instead of
    /// plain HTTP. Behind a reverse proxy that terminates TLS, leave both unset.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `sqlite://…`, a bare file path, or `postgres://…`. Default: `<data_dir>/fangzha.db`.
    pub database_url: Option<String>,
    /// Where the SQLite file, generated secrets and (later) photos live.
    pub data_dir: PathBuf,
    /// HMAC key for access tokens; generated into `<data_dir>/jwt_secret` when absent.
    pub jwt_secret: Option<SecretString>,
    /// Earlier JWT secrets, accepted for verification only: during a rotation, tokens signed
    /// with them stay valid until they expire (at most `access_token_ttl_secs`), while new
    /// tokens are signed with `jwt_secret`. Remove them once that lifetime has passed.
    pub jwt_previous_secrets: Vec<SecretString>,
    /// 32-byte AES key (64 hex chars) for ID numbers and phones at rest; generated into
    /// `<data_dir>/field_key` when absent.
    pub field_key: Option<SecretString>,
    /// Earlier field keys (64 hex chars each, oldest first) still needed to read values
    /// written before a key rotation; ID hashes derive from the oldest, so they survive it.
    pub old_field_keys: Vec<SecretString>,
    /// Campaign start date (`YYYY-MM-DD`): visits before it do not count as visited.
    pub campaign_start: String,
    /// A fraud-risk rules file (TOML, like `rules/risk-2021.1.toml`); the built-in weights
    /// of DOMAIN.md when absent.
    pub risk_rules: Option<PathBuf>,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in days.
    pub refresh_token_ttl_days: u64,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest import file accepted (`POST /api/admin/imports/…`), in bytes: a 10,000-row
    /// roster is about 1 MB as XLSX, 2 MB as CSV.
    pub import_max_bytes: usize,
    /// Database connections in the pool.
    pub db_pool_size: u32,
    /// `plain` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `fangzha=debug,info`.
    pub log_level: String,
    /// Limits on login attempts.
    pub login: LoginLimits,
    /// Limits on sync pushes.
    pub push_limits: PushLimits,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy_headers: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// Optional map tile URL template for the desk map (`{z}/{x}/{y}`), e.g. a 天地图 or an
    /// intranet tile server; without it the map draws only our own grids and points.
    pub map_tile_url: Option<String>,
    /// Photo uploads, processing and storage.
    pub photos: PhotoSettings,
    /// How long the server waits for slow or silent clients.
    pub http: HttpTimeouts,
}

/// Timeouts against slow clients (a phone on a weak link, or a connection held open on
/// purpose): each ends the request with 408 and closes the connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTimeouts {
    /// Time to receive a request's line and headers, in milliseconds.
    pub request_head_ms: u64,
    /// Longest pause between two pieces of a request body, in milliseconds.
    pub body_idle_ms: u64,
    /// Longest time to receive a whole request body, in milliseconds. Generous: a 5 MiB
    /// push over a 2G link takes minutes; a tus upload resumes where a cut one stopped.
    pub body_total_ms: u64,
    /// How long an idle kept-alive connection stays open, in milliseconds.
    pub keep_alive_ms: u64,
    /// How long to wait for the client to close after the server ends a connection, in
    /// milliseconds.
    pub disconnect_ms: u64,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            request_head_ms: 10_000,
            body_idle_ms: 60_000,
            body_total_ms: 600_000,
            keep_alive_ms: 30_000,
            disconnect_ms: 5_000,
        }
    }
}

/// Photo uploads (SYNC.md "Photos and other blobs").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotoSettings {
    /// Largest upload accepted, in bytes (413 beyond). Default 20 MiB.
    pub max_bytes: u64,
    /// Keep the EXIF GPS position of uploads in `blobs.gps_*` (the stored images never carry
    /// it). Off by default: a photo's location is personal data.
    pub keep_gps: bool,
    /// Images processed at once; each may hold up to 256 MiB while decoding. Default: the
    /// number of cores.
    pub workers: Option<usize>,
    /// `local` (a directory under the data dir) or `s3`.
    pub store: PhotoStoreKind,
    /// The S3-compatible store, when `store = "s3"`.
    pub s3: S3Settings,
}

/// Which object store holds photo variants.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PhotoStoreKind {
    /// `<data_dir>/blobs` on this machine.
    Local,
    /// An S3-compatible bucket (needs the `s3` build feature).
    S3,
}

/// An S3-compatible bucket for photos. Unset credentials fall back to the `AWS_*`
/// environment variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: Option<String>,
    /// Region (`us-east-1` for most non-AWS stores).
    pub region: String,
    /// Endpoint URL of a non-AWS store, e.g. `http://minio:9000`.
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain-HTTP endpoint (a store on the same private network).
    pub allow_http: bool,
    /// `bucket.host` addressing instead of `host/bucket` (MinIO wants the latter).
    pub virtual_hosted_style: bool,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            max_bytes: 20 * 1024 * 1024,
            keep_gps: false,
            workers: None,
            store: PhotoStoreKind::Local,
            s3: S3Settings::default(),
        }
    }
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: None,
            region: "us-east-1".into(),
            endpoint: None,
            prefix: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            virtual_hosted_style: false,
        }
    }
}

/// Login attempt limits (token buckets): up to `max_attempts_*` at once, refilled evenly over
/// `window_secs`; past them, login answers 429 with `Retry-After`. 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginLimits {
    /// Attempts per username within the window (right or wrong).
    #[serde(alias = "max_failures_per_user")]
    pub max_attempts_per_user: u32,
    /// Attempts per client address within the window (one office NAT holds many workers).
    #[serde(alias = "max_failures_per_ip")]
    pub max_attempts_per_ip: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

/// `POST /api/sync/push` limits (token buckets): `*_burst` pushes back to back, then
/// `*_per_minute`; past them, 429 `rate_limited` with `Retry-After`, which the app's sync
/// loop waits out. 0 turns a limit off. A push carries up to 500 mutations, so the default
/// burst lets a phone send 30,000 queued changes without waiting.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushLimits {
    /// Pushes one device (`client_id` of one user) may send at once.
    pub device_burst: u32,
    /// Sustained pushes per minute for one device.
    pub device_per_minute: u32,
    /// Pushes one user may send at once, all devices together.
    pub user_burst: u32,
    /// Sustained pushes per minute for one user.
    pub user_per_minute: u32,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            database_url: None,
            data_dir: PathBuf::from("./data"),
            jwt_secret: None,
            jwt_previous_secrets: Vec::new(),
            field_key: None,
            old_field_keys: Vec::new(),
            campaign_start: "2021-05-10".into(),
            risk_rules: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            max_body_bytes: 5 * 1024 * 1024,
            import_max_bytes: 64 * 1024 * 1024,
            db_pool_size: 8,
            log_format: LogFormat::Plain,
            log_level: "info".into(),
            login: LoginLimits::default(),
            push_limits: PushLimits::default(),
            trust_proxy_headers: false,
            metrics_token: None,
            map_tile_url: None,
            photos: PhotoSettings::default(),
            http: HttpTimeouts::default(),
        }
    }
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_attempts_per_user: 10,
            max_attempts_per_ip: 300,
            window_secs: 15 * 60,
        }
    }
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            device_burst: 60,
            device_per_minute: 30,
            user_burst: 120,
            user_per_minute: 60,
        }
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--database URL`.
    pub database_url: Option<String>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--bind ADDR`.
    pub bind: Option<String>,
}

impl Settings {
    /// Reads defaults, then the TOML file (`--config`, else `FANGZHA_CONFIG`, else
    /// `./fangzha.toml` if present), then `FANGZHA__*` variables, then the overrides.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Settings> {
        let file = overrides
            .config_file
            .clone()
            .or_else(|| std::env::var_os("FANGZHA_CONFIG").map(PathBuf::from));
        let mut builder = config::Config::builder();
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("配置文件不存在 (config file not found): {}", path.display());
                }
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None => {
                builder =
                    builder.add_source(config::File::with_name("fangzha.toml").required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("FANGZHA")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let mut settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("configuration has an invalid value")?;
        if let Some(url) = &overrides.database_url {
            settings.database_url = Some(url.clone());
        }
        if let Some(dir) = &overrides.data_dir {
            settings.data_dir = dir.clone();
        }
        if let Some(bind) = &overrides.bind {
            settings.bind = bind.clone();
        }
        Ok(settings)
    }

    /// The database URL in force: the configured one or the SQLite default in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("fangzha.db").display()),
        }
    }
}

/// Secrets resolved from configuration or the data directory.
pub struct Secrets {
    /// HMAC key for JWTs.
    pub jwt: SecretString,
    /// Earlier JWT keys, for verification during a rotation.
    pub jwt_previous: Vec<SecretString>,
    /// AES-256 key for personal fields.
    pub field_key: [u8; 32],
    /// Keys of earlier rotations, oldest first.
    pub old_field_keys: Vec<[u8; 32]>,
}

impl Secrets {
    /// Takes configured secrets or reads/creates them in the data directory.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Secrets> {
        fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let jwt = match &settings.jwt_secret {
            Some(s) if s.expose_secret().len() >= 32 => s.clone(),
            Some(_) => bail!("jwt_secret must be at least 32 characters"),
            None => SecretString::from(file_secret(&settings.data_dir.join("jwt_secret"))?),
        };
        if settings
            .jwt_previous_secrets
            .iter()
            .any(|s| s.expose_secret().len() < 32)
        {
            bail!("jwt_previous_secrets must each be at least 32 characters");
        }
        let key_hex = match &settings.field_key {
            Some(s) => s.clone(),
            None => SecretString::from(file_secret(&settings.data_dir.join("field_key"))?),
        };
        let field_key = parse_key(&key_hex)?;
        let old_field_keys = settings
            .old_field_keys
            .iter()
            .map(parse_key)
            .collect::<anyhow::Result<_>>()?;
        Ok(Secrets {
            jwt,
            jwt_previous: settings.jwt_previous_secrets.clone(),
            field_key,
            old_field_keys,
        })
    }

    /// The cipher for personal fields.
    pub fn cipher(&self) -> crate::crypto::FieldCipher {
        crate::crypto::FieldCipher::new(&self.field_key, &self.old_field_keys)
    }
}

pub(crate) fn parse_key(hex_key: &SecretString) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.expose_secret().trim())
        .ok()
        .filter(|b| b.len() == 32)
        .context("field keys must be 64 hexadecimal characters (32 bytes)")?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// The fraud-risk rules in force: the configured file, or the built-in table.
pub fn risk_rules(settings: &Settings) -> anyhow::Result<crate::domain::risk::RiskRules> {
    let Some(path) = &settings.risk_rules else {
        return Ok(crate::domain::risk::RiskRules::builtin());
    };
    let rules: crate::domain::risk::RiskRules = config::Config::builder()
        .add_source(config::File::from(path.as_path()).required(true))
        .build()
        .and_then(|c| c.try_deserialize())
        .with_context(|| format!("reading risk rules {}", path.display()))?;
    rules
        .validate()
        .map_err(|e| anyhow::anyhow!("risk rules {}: {e}", path.display()))?;
    Ok(rules)
}

/// Reads a secret file, or creates it with 32 random bytes as hex and mode 0600.
///
/// The file appears whole or not at all: the value is written and synced to a temporary
/// file first, then hard-linked to its name (which, unlike a rename, never replaces a secret
/// another process created meanwhile). A process killed half-way leaves at most a stray
/// temporary file, never an empty secret that the next start would take as the key.
fn file_secret(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        return read_secret(path);
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let value = hex::encode(raw);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let linked = write_synced(&tmp, &value).and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        // Another process (a CLI command next to the server) created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return read_secret(path),
        Err(e) => {
            return Err(e).with_context(|| format!("creating secret {}", path.display()));
        }
    }
    if let Some(dir) = path.parent().and_then(|d| fs::File::open(d).ok()) {
        // The new name survives a power cut too.
        let _ = dir.sync_all();
    }
    tracing::warn!(path = %path.display(), "generated a new secret (mode 0600); back it up with the database");
    Ok(value)
}

/// Writes `value` to a new file of mode 0600 and syncs it.
fn write_synced(path: &Path, value: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()
}

/// A secret file's value; an empty or short one (left by a crash of an older version while
/// creating it) is an error, never a weak key.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let value = fs::read_to_string(path)
        .with_context(|| format!("reading secret {}", path.display()))?
        .trim()
        .to_owned();
    if value.len() < 32 {
        bail!(
            "secret file {} is empty or shorter than 32 characters; if nothing was ever \
             written with it (a first start that was interrupted), delete it to have a new one \
             generated, otherwise restore it from the backup",
            path.display()
        );
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_and_flags_layer_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fangzha.toml");
        fs::write(
            &file,
            "bind = \"0.0.0.0:9000\"\naccess_token_ttl_secs = 60\n[login]\nmax_failures_per_user = 2\n",
        )
        .unwrap();
        let s = Settings::load(&Overrides {
            config_file: Some(file.clone()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert_eq!(s.access_token_ttl_secs, 60);
        assert_eq!(s.login.max_attempts_per_user, 2, "the old name still works");
        assert_eq!(
            s.login.window_secs, 900,
            "unset nested values keep their default"
        );
        assert_eq!(s.refresh_token_ttl_days, 30);
        assert!(s.database_url().ends_with("fangzha.db"));

        let flagged = Settings::load(&Overrides {
            config_file: Some(file),
            bind: Some("127.0.0.1:1".into()),
            database_url: Some("postgres://db/x".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(flagged.bind, "127.0.0.1:1");
        assert_eq!(flagged.database_url(), "postgres://db/x");
    }

    #[test]
    fn unknown_settings_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        fs::write(&file, "bnid = \"typo\"\n").unwrap();
        let err = Settings::load(&Overrides {
            config_file: Some(file),
            ..Overrides::default()
        });
        assert!(err.is_err());
        let missing = Settings::load(&Overrides {
            config_file: Some(dir.path().join("nope.toml")),
            ..Overrides::default()
        });
        assert!(missing.is_err());
    }

    #[test]
    fn secrets_are_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let first = Secrets::resolve(&settings).unwrap();
        let again = Secrets::resolve(&settings).unwrap();
        assert_eq!(first.jwt.expose_secret(), again.jwt.expose_secret());
        assert_eq!(first.field_key, again.field_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("jwt_secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let short = Settings {
            jwt_secret: Some("short".to_owned().into()),
            ..settings
        };
        assert!(Secrets::resolve(&short).is_err());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "no temporary file left: {names:?}"
        );
    }

    /// An empty secret file (a start killed between creating and writing it, before
    /// secrets were written atomically) stops the start instead of signing tokens with an
    /// empty key.
    #[test]
    fn an_empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("jwt_secret"), "").unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let err = Secrets::resolve(&settings).err().expect("refused");
        assert!(format!("{err:#}").contains("jwt_secret"), "{err:#}");
    }
}
