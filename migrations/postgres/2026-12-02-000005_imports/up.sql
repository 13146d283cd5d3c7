-- Import jobs (rosters, grid boundaries, users): their state, progress and per-row error
-- report, kept in the database so a job survives a restart of the page that started it and
-- any replica can answer for it. Generated passwords are kept encrypted until the first
-- time the job result is read, then erased.

CREATE TABLE import_jobs (
    id             TEXT PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    format         TEXT NOT NULL,
    state          TEXT NOT NULL,
    dry_run        BOOLEAN NOT NULL,
    user_id        TEXT NOT NULL,
    processed      BIGINT NOT NULL,
    total          BIGINT NOT NULL,
    errors         TEXT NOT NULL,
    result         TEXT NOT NULL,
    secrets        TEXT,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX import_jobs_created_idx ON import_jobs (created_at_ms);
