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
    /// `sqlite://…`, a bare file path, or `postgres://…`. Default: `<data_dir>/fangzha.db`.
    pub database_url: Option<String>,
    /// Where the SQLite file, generated secrets and (later) photos live.
    pub data_dir: PathBuf,
    /// HMAC key for access tokens; generated into `<data_dir>/jwt_secret` when absent.
    pub jwt_secret: Option<SecretString>,
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
    /// Limits on failed logins.
    pub login: LoginLimits,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy_headers: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// Optional map tile URL template for the desk map (`{z}/{x}/{y}`), e.g. a 天地图 or an
    /// intranet tile server; without it the map draws only our own grids and points.
    pub map_tile_url: Option<String>,
    /// Photo uploads, processing and storage.
    pub photos: PhotoSettings,
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

/// Failed-login limits; past them, login answers 429 until the window ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginLimits {
    /// Failures per username within the window.
    pub max_failures_per_user: u32,
    /// Failures per client address within the window.
    pub max_failures_per_ip: u32,
    /// Window length in seconds.
    pub window_secs: u64,
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
            database_url: None,
            data_dir: PathBuf::from("./data"),
            jwt_secret: None,
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
            trust_proxy_headers: false,
            metrics_token: None,
            map_tile_url: None,
            photos: PhotoSettings::default(),
        }
    }
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures_per_user: 5,
            max_failures_per_ip: 30,
            window_secs: 15 * 60,
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
fn file_secret(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        let value = fs::read_to_string(path)
            .with_context(|| format!("reading secret {}", path.display()))?;
        return Ok(value.trim().to_owned());
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let value = hex::encode(raw);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating secret {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), "generated a new secret (mode 0600); back it up with the database");
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
        assert_eq!(s.login.max_failures_per_user, 2);
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
    }
}
