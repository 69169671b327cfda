-- Portable SQL: runs unchanged on SQLite and PostgreSQL (SQLite keeps BYTEA values as blobs).
--
-- One row per uploaded batch, kept for the retention window: the keys (the batch as a protobuf, as it is
-- served), and the audit trail (who uploaded it, under which tag, when, with which signature and key).
-- `seq` numbers a day's batches in the order they were stored; the download tag is `YYYYMMDD-seq`.
CREATE TABLE batch (
    day             TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    country         TEXT   NOT NULL,
    upload_tag      TEXT   NOT NULL,
    uploaded_at     BIGINT NOT NULL,
    key_count       BIGINT NOT NULL,
    content_sha256  TEXT   NOT NULL,
    signature       TEXT   NOT NULL,
    key_fingerprint TEXT   NOT NULL,
    body            BYTEA  NOT NULL,
    PRIMARY KEY (day, seq),
    UNIQUE (country, upload_tag)
);
