-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix epoch seconds.

-- One row per hashed GUID (or x-prefixed date-of-birth hash). Result codes: 1 negative, 2 positive,
-- 3 invalid, 4 redeemed (masked by retention). Pending (0) is never stored: unknown ids answer pending.
CREATE TABLE test_result (
    result_id  TEXT   NOT NULL PRIMARY KEY,
    result     BIGINT NOT NULL,
    sc         BIGINT NOT NULL,
    lab_id     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX test_result_created_at ON test_result (created_at);

-- Lab API keys, stored as SHA-256 hex of the key; each key belongs to one lab.
CREATE TABLE lab_key (
    key_hash   TEXT   NOT NULL PRIMARY KEY,
    lab_id     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
