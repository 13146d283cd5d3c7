//! Import jobs: the upload answers at once, the import runs on a blocking thread, and the
//! page polls the job for its progress bar and result.
//!
//! Where state lives: each job is a row of `import_jobs` (kind, state, counts, error report,
//! result), written when the job starts and when it ends, so it survives a restart and any
//! replica answers for it. Live progress while it runs (rows validated, records written) is
//! kept in memory by the replica running it: the import's single write transaction holds
//! SQLite's write lock, so progress cannot be written to the database meanwhile. Another
//! replica therefore shows a running job at its last stored progress until it ends. A job
//! whose process died stays `running` in the table (nothing of it was committed: the
//! import is one transaction).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use super::{Input, Progress, Report, RowError, State};
use crate::crypto::FieldCipher;
use crate::db::imports::{self, JobRow};
use crate::db::{DbConn, now_ms};

/// Progress of the jobs running in this process.
#[derive(Default)]
pub struct Jobs {
    live: Mutex<HashMap<String, Arc<Progress>>>,
    /// Held while an import runs: imports of this process take turns, so a second upload
    /// waits for the first instead of timing out on SQLite's write lock.
    turn: Mutex<()>,
}

impl Jobs {
    /// Registers a job as running here; returns its progress counters.
    pub fn register(&self, id: &str) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        self.lock().insert(id.to_owned(), progress.clone());
        progress
    }

    /// Forgets a finished job (its row holds the final state).
    pub fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The live progress of a job running here.
    pub fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        self.lock().get(id).cloned()
    }

    /// Waits for this process's other imports to finish; the guard ends the turn.
    pub fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Progress>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The row of a job just started.
pub fn new_row(id: &str, input: &Input) -> JobRow {
    let now = now_ms();
    JobRow {
        id: id.to_owned(),
        kind: input.kind.as_str().to_owned(),
        format: input.format.as_str().to_owned(),
        state: State::Running.as_str().to_owned(),
        dry_run: input.dry_run,
        user_id: input.user_id.clone(),
        processed: 0,
        total: 0,
        errors: "[]".into(),
        result: "{}".into(),
        secrets: None,
        created_at_ms: now,
        updated_at_ms: now,
    }
}

/// Stores a job's outcome; generated passwords are stored encrypted until delivered.
pub fn store_outcome(
    conn: &mut DbConn,
    cipher: &FieldCipher,
    id: &str,
    outcome: &Result<Report, String>,
) -> diesel::QueryResult<()> {
    let now = now_ms();
    match outcome {
        Ok(report) => {
            let secrets = (!report.passwords.is_empty()).then(|| {
                let list: Vec<Value> = report
                    .passwords
                    .iter()
                    .map(|(u, p)| json!({"username": u, "password": p}))
                    .collect();
                cipher.encrypt(&Value::Array(list).to_string())
            });
            let mut result = report.result.clone();
            result.insert("error_count".into(), json!(report.errors.len()));
            imports::finish(
                conn,
                id,
                report.state.as_str(),
                report.processed as i64,
                report.total as i64,
                &serde_json::to_string(&report.errors).unwrap_or_else(|_| "[]".into()),
                &Value::Object(result).to_string(),
                secrets.as_deref(),
                now,
            )
        }
        Err(_) => {
            let errors = vec![RowError::file(
                "internal_error",
                "导入时服务器出错，没有写入任何数据；问题已记录，请稍后重试",
            )];
            imports::finish(
                conn,
                id,
                State::Failed.as_str(),
                0,
                0,
                &serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()),
                "{}",
                None,
                now,
            )
        }
    }
}

/// The job as the API shows it: `state`, `phase`, `processed`, `total`, `errors`, the
/// result's counts at the top level (`created`, `updated`, …), and `passwords` when given.
pub fn view(row: &JobRow, live: Option<&Progress>, passwords: Option<Value>) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), json!(row.id));
    body.insert("kind".into(), json!(row.kind));
    body.insert("format".into(), json!(row.format));
    body.insert("state".into(), json!(row.state));
    body.insert("dry_run".into(), json!(row.dry_run));
    let (phase, processed, total) = match (live, row.state.as_str()) {
        (Some(p), "running") => {
            let (phase, processed, total) = p.get();
            (phase, processed as i64, total as i64)
        }
        (_, "running") => ("reading", row.processed, row.total),
        _ => ("finished", row.processed, row.total),
    };
    body.insert("phase".into(), json!(phase));
    body.insert("processed".into(), json!(processed));
    body.insert("total".into(), json!(total));
    body.insert(
        "errors".into(),
        serde_json::from_str(&row.errors).unwrap_or_else(|_| json!([])),
    );
    body.insert("created".into(), json!({}));
    if let Ok(Value::Object(result)) = serde_json::from_str::<Value>(&row.result) {
        body.extend(result);
    }
    if let Some(p) = passwords {
        body.insert("passwords".into(), p);
    }
    body.insert("created_at_ms".into(), json!(row.created_at_ms));
    body.insert("updated_at_ms".into(), json!(row.updated_at_ms));
    Value::Object(body)
}
