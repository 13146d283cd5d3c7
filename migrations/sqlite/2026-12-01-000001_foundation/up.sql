-- Foundation: the area tree, accounts with assignment history, refresh tokens, devices, audit.
-- Times are BIGINT Unix milliseconds; ids are TEXT UUIDs (portable across SQLite and PostgreSQL).

CREATE TABLE areas (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('township', 'village', 'grid')),
    parent_id     TEXT REFERENCES areas (id),
    boundary      TEXT,
    qr_link       TEXT,
    wechat_group  TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX areas_parent_idx ON areas (parent_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'cadre', 'grid_worker', 'police', 'viewer')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- One row per (user, area) period; valid_to_ms NULL while current. Sync authorises a change by
-- the assignment valid at the change's HLC time, so rows are closed, never deleted.
CREATE TABLE role_assignments (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    role          TEXT NOT NULL,
    area_id       TEXT NOT NULL REFERENCES areas (id),
    valid_from_ms BIGINT NOT NULL,
    valid_to_ms   BIGINT,
    assigned_by   TEXT
);
CREATE INDEX role_assignments_user_idx ON role_assignments (user_id, valid_to_ms);
CREATE INDEX role_assignments_area_idx ON role_assignments (area_id);

-- Only a SHA-256 of each refresh token is stored; a family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    family_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    token_hash    TEXT NOT NULL UNIQUE,
    device_name   TEXT,
    issued_at_ms  BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    rotated_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- A client_id belongs to the first user that sends it; last_mid is the sync idempotency mark.
CREATE TABLE devices (
    client_id     TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    device_name   TEXT,
    last_mid      BIGINT NOT NULL DEFAULT 0,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL
);
CREATE INDEX devices_user_idx ON devices (user_id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       BIGINT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    detail      TEXT,
    ip          TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at_ms);
