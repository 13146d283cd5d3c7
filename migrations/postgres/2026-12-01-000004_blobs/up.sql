-- Photos (SYNC.md "Photos and other blobs"): the processed variants live in the object store;
-- these tables hold what the server knows about them and which records refer to them, so a
-- download is scope-checked with one indexed lookup and `fangzha gc` finds orphans.

-- One row per stored digest (the SHA-256 of the bytes the device uploaded). Only processed,
-- metadata-free variants are kept; the uploaded bytes themselves are not.
CREATE TABLE blobs (
    sha256         TEXT PRIMARY KEY NOT NULL,
    -- The type sniffed from the uploaded bytes (image/jpeg, image/png, image/webp).
    mime           TEXT NOT NULL,
    -- Upright size of the uploaded image, after EXIF orientation.
    width          BIGINT NOT NULL,
    height         BIGINT NOT NULL,
    display_bytes  BIGINT NOT NULL,
    thumb_bytes    BIGINT NOT NULL,
    -- Degrees × 10^7 (integers stay exact and portable); only when `photos.keep_gps` is on.
    gps_lat_e7     BIGINT,
    gps_lng_e7     BIGINT,
    created_at_ms  BIGINT NOT NULL
);

-- Which record refers to which digest, kept by the push that writes the record's `photos`
-- (same transaction). A reference may exist before its blob arrives. `active` is false once
-- the record dropped the photo or was deleted; `referred_at_ms` then says since when, for gc.
CREATE TABLE blob_refs (
    sha256         TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    entity         TEXT NOT NULL,
    scope          TEXT NOT NULL,
    active         BOOLEAN NOT NULL,
    referred_at_ms BIGINT NOT NULL,
    PRIMARY KEY (sha256, record_id)
);
CREATE INDEX blob_refs_record_idx ON blob_refs (record_id);
