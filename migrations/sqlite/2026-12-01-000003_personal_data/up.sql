-- Personal data: an index of keyed ID-number hashes (the numbers themselves are encrypted in
-- records.fields) and the access log of every full value delivered to a person.

CREATE TABLE id_index (
    record_id TEXT PRIMARY KEY NOT NULL,
    entity    TEXT NOT NULL,
    scope     TEXT NOT NULL,
    id_hash   TEXT NOT NULL,
    rental_id TEXT,
    active    BOOLEAN NOT NULL
);
CREATE INDEX id_index_hash_idx ON id_index (id_hash, active);

CREATE TABLE access_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     BIGINT NOT NULL,
    user_id   TEXT NOT NULL,
    record_id TEXT NOT NULL,
    entity    TEXT NOT NULL,
    fields    TEXT NOT NULL,
    purpose   TEXT NOT NULL
);
CREATE INDEX access_log_at_idx ON access_log (at_ms);
CREATE INDEX access_log_record_idx ON access_log (record_id);
