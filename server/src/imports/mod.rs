//! Imports (admin): household rosters from CSV/XLSX, grid boundaries from GeoJSON, accounts
//! from CSV. Shared by `POST /api/admin/imports/{kind}` (run as a background job) and
//! `fangzha import …` (run in the foreground).
//!
//! All or nothing: every row is validated first (through `sync::entities`, the same rules
//! as a push); any bad row rejects the whole file with a per-row report and nothing is
//! written. Otherwise everything is written in one transaction through `sync::write` as
//! server writes carrying the importing admin's user id, and the flags of what changed are
//! recomputed in that same transaction.

pub mod areas;
pub mod boundaries;
pub mod cli;
pub mod jobs;
pub mod roster;
pub mod table;
pub mod users;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::sync::SyncContext;
pub use table::Format;

/// What an import creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Households and their members.
    Households,
    /// Grid areas with their boundary polygons.
    Boundaries,
    /// Accounts with their areas.
    Users,
}

impl Kind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Households => "households",
            Kind::Boundaries => "boundaries",
            Kind::Users => "users",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Households, Kind::Boundaries, Kind::Users]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Formats this kind reads.
    pub fn accepts(self, format: Format) -> bool {
        match self {
            Kind::Boundaries => format == Format::GeoJson,
            _ => matches!(format, Format::Csv | Format::Xlsx),
        }
    }
}

/// One import to run.
#[derive(Debug, Clone)]
pub struct Input {
    /// What to import.
    pub kind: Kind,
    /// The file's format.
    pub format: Format,
    /// The file.
    pub bytes: Vec<u8>,
    /// Default village (area id or name) for rows and features that name none.
    pub village: Option<String>,
    /// Validate and count, write nothing.
    pub dry_run: bool,
    /// The importing admin (written into the change history).
    pub user_id: String,
}

/// A refused row (or feature): where and why, in the words of the file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowError {
    /// Row number as Excel shows it (header = 1); for GeoJSON the feature's number from 1;
    /// 0 for the file as a whole.
    pub row: usize,
    /// The column header as written in the file, when one column is at fault.
    pub column: Option<String>,
    /// Machine code (`invalid_value`, `missing_value`, `unknown_area`, …).
    pub code: String,
    /// Chinese message naming row and column.
    pub message: String,
}

impl RowError {
    /// An error of one cell.
    pub fn cell(row: usize, column: &str, code: &str, message: impl AsRef<str>) -> RowError {
        RowError {
            row,
            column: Some(column.to_owned()),
            code: code.to_owned(),
            message: format!("第 {row} 行「{column}」：{}", message.as_ref()),
        }
    }

    /// An error of a whole row.
    pub fn row(row: usize, code: &str, message: impl AsRef<str>) -> RowError {
        RowError {
            row,
            column: None,
            code: code.to_owned(),
            message: format!("第 {row} 行：{}", message.as_ref()),
        }
    }

    /// An error of the whole file (unreadable, a required column missing).
    pub fn file(code: &str, message: impl Into<String>) -> RowError {
        RowError {
            row: 0,
            column: None,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Still running (jobs only).
    Running,
    /// Everything written (or, for a dry run, everything valid).
    Done,
    /// Bad rows: nothing written.
    Rejected,
    /// A server failure: nothing written.
    Failed,
}

impl State {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
            State::Rejected => "rejected",
            State::Failed => "failed",
        }
    }
}

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct Report {
    /// `done` or `rejected`.
    pub state: State,
    /// Rows (or features) looked at.
    pub processed: u64,
    /// Rows (or features) in the file.
    pub total: u64,
    /// Why the file was rejected.
    pub errors: Vec<RowError>,
    /// Counts and details: `created`, `updated`, `unchanged`, … (kind-specific).
    pub result: Map<String, Value>,
    /// Generated passwords (username, password), to hand out once.
    pub passwords: Vec<(String, String)>,
}

impl Report {
    /// A rejection with these errors.
    pub fn rejected(errors: Vec<RowError>, processed: u64, total: u64) -> Report {
        Report {
            state: State::Rejected,
            processed,
            total,
            errors,
            result: Map::new(),
            passwords: Vec::new(),
        }
    }
}

/// Most row errors kept in a report (the count says how many there were).
pub const MAX_ERRORS: usize = 1000;

/// Live progress of a running import, shared with whoever reports it.
#[derive(Debug, Default)]
pub struct Progress {
    processed: AtomicU64,
    total: AtomicU64,
    phase: AtomicU8,
}

/// Phases of an import, for the progress bar's label.
pub const PHASES: [&str; 3] = ["reading", "validating", "writing"];

impl Progress {
    /// Starts a phase over `total` items.
    pub fn phase(&self, phase: usize, total: u64) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.processed.store(0, Ordering::Relaxed);
    }

    /// One more item done.
    pub fn step(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// (phase name, processed, total).
    pub fn get(&self) -> (&'static str, u64, u64) {
        let phase = PHASES
            .get(self.phase.load(Ordering::Relaxed) as usize)
            .copied()
            .unwrap_or("reading");
        (
            phase,
            self.processed.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Why a transaction of an import stopped: a database failure, or rows refused while
/// checking against what is stored (nothing written either way), or a dry run's rollback.
pub(crate) enum Stop {
    Api(ApiError),
    Rows(Vec<RowError>),
    DryRun(Box<Report>),
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Stop::Api(e.into())
    }
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Api(e)
    }
}

/// Runs an import to its end on this thread (blocking: call it from a blocking task).
pub fn run(
    conn: &mut DbConn,
    sync: &SyncContext,
    input: &Input,
    progress: &Progress,
) -> ApiResult<Report> {
    if !input.kind.accepts(input.format) {
        return Ok(Report::rejected(
            vec![RowError::file(
                "unsupported_format",
                match input.kind {
                    Kind::Boundaries => "网格边界只能从 GeoJSON 文件导入",
                    _ => "只能导入 CSV 或 XLSX（Excel）文件",
                },
            )],
            0,
            0,
        ));
    }
    match input.kind {
        Kind::Households => roster::run(conn, sync, input, progress),
        Kind::Boundaries => boundaries::run(conn, input, progress),
        Kind::Users => users::run(conn, input, progress),
    }
}

/// Turns a transaction's stop into the report: refused rows → `rejected`, a dry run →
/// its report, a database failure → the error.
pub(crate) fn settle(out: Result<Report, Stop>, processed: u64, total: u64) -> ApiResult<Report> {
    match out {
        Ok(report) => Ok(report),
        Err(Stop::DryRun(report)) => Ok(*report),
        Err(Stop::Rows(errors)) => Ok(Report::rejected(errors, processed, total)),
        Err(Stop::Api(e)) => Err(e),
    }
}

/// A stable, UUID-shaped id derived from its parts, so importing the same file twice
/// addresses the same records (like flag ids).
pub fn stable_id(parts: &[&str]) -> String {
    let d = Sha256::digest(format!("import:{}", parts.join("\u{1f}")).as_bytes());
    let mut b: [u8; 16] = d[..16].try_into().unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    uuid::Uuid::from_bytes(b).to_string()
}

/// Splits a list cell: `;`, `；`, `、`, `,`, `，` or line breaks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([';', '；', '、', ',', '，', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_uuids_and_stable() {
        let a = stable_id(&["household", "v1", "幸福路12号"]);
        assert_eq!(a, stable_id(&["household", "v1", "幸福路12号"]));
        assert_ne!(a, stable_id(&["household", "v1", "幸福路13号"]));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn lists() {
        assert_eq!(split_list("a; b、c，d"), vec!["a", "b", "c", "d"]);
        assert!(split_list(" ; ").is_empty());
    }
}
