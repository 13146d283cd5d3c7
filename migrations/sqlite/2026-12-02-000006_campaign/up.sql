-- The campaign's configuration, one row per version (the newest is in force), the fraud
-- cases police report per village, and the villages named as candidate model villages.

CREATE TABLE campaign_versions (
    version       BIGINT PRIMARY KEY NOT NULL,
    config        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE fraud_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    village_id    TEXT NOT NULL REFERENCES areas (id),
    period        TEXT NOT NULL,
    cases         BIGINT NOT NULL,
    victims       BIGINT NOT NULL,
    suspects      BIGINT NOT NULL,
    loss_yuan     BIGINT NOT NULL,
    notes         TEXT,
    created_by    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX fraud_cases_village_idx ON fraud_cases (village_id, period);

CREATE TABLE model_villages (
    village_id  TEXT PRIMARY KEY NOT NULL REFERENCES areas (id),
    named_by    TEXT NOT NULL,
    named_at_ms BIGINT NOT NULL
);
