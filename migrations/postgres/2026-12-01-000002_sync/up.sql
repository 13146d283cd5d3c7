-- Sync engine storage (docs/SYNC-STORAGE.md): one row per record holding its whole mergeable
-- state, a per-scope sequence, the change history and the rejected mutations kept for review.

-- The commit-order counter of each scope (area). Bumped inside the writing transaction, whose
-- row lock orders concurrent writers, so seq order is commit order.
CREATE TABLE scope_seqs (
    scope TEXT PRIMARY KEY NOT NULL REFERENCES areas (id),
    seq   BIGINT NOT NULL DEFAULT 0
);
INSERT INTO scope_seqs (scope, seq) SELECT id, 0 FROM areas;

-- A record's current state: field values and their HLCs as JSON objects, the delete/restore
-- registers, and the seq of its latest change (a pull sends the latest state once).
CREATE TABLE records (
    id            TEXT PRIMARY KEY NOT NULL,
    entity        TEXT NOT NULL,
    scope         TEXT NOT NULL REFERENCES areas (id),
    seq           BIGINT NOT NULL,
    fields        TEXT NOT NULL,
    hlcs          TEXT NOT NULL,
    delete_hlc    TEXT,
    restore_hlc   TEXT,
    deleted       BOOLEAN NOT NULL,
    version       TEXT NOT NULL,
    parent_id     TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX records_scope_seq_idx ON records (scope, seq);
CREATE INDEX records_entity_scope_idx ON records (entity, scope);
-- The record a child belongs to (a member's household, a tenant's or inspection's rental, a
-- visit's target), copied out of `fields` so the flag engine finds children by index.
CREATE INDEX records_parent_idx ON records (parent_id, entity);

-- Every value that arrived: the winners and the losers, with their writer and times.
CREATE TABLE record_history (
    id        BIGSERIAL PRIMARY KEY,
    record_id TEXT NOT NULL,
    entity    TEXT NOT NULL,
    scope     TEXT NOT NULL,
    field     TEXT NOT NULL,
    value     TEXT,
    hlc       TEXT NOT NULL,
    won       BOOLEAN NOT NULL,
    user_id   TEXT,
    client_id TEXT,
    mid       BIGINT,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX record_history_record_idx ON record_history (record_id, id);

-- Mutations refused by validation or authorisation: their mid is used up, their content kept.
CREATE TABLE rejected_mutations (
    id        BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    mid       BIGINT NOT NULL,
    code      TEXT NOT NULL,
    message   TEXT NOT NULL,
    field     TEXT,
    payload   TEXT NOT NULL,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX rejected_mutations_client_idx ON rejected_mutations (client_id, mid);
