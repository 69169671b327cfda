-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
--
-- A backend's federation state, beside (not inside) the key store: how far the upload job got, and which
-- gateway batches the download job has handled.

-- One row (id 1): hours before `next_hour` are uploaded; `pending_to`, while set, is the end of the range
-- being uploaded, so a run after a crash re-sends exactly the same batches under the same tags.
CREATE TABLE upload_state (
    id         BIGINT NOT NULL PRIMARY KEY,
    next_hour  BIGINT NOT NULL,
    pending_to BIGINT
);

-- Every gateway batch the download job has seen, by its download tag. `position` is its place in the day's
-- chain (1, 2, ...), so the next run continues after the last one. `outcome`: stored, own, rejected, or
-- untrusted (no key configured for the uploader yet: fetched again on every run).
CREATE TABLE downloaded_batch (
    batch_tag    TEXT   NOT NULL PRIMARY KEY,
    day          TEXT   NOT NULL,
    position     BIGINT NOT NULL,
    country      TEXT   NOT NULL,
    outcome      TEXT   NOT NULL,
    key_count    BIGINT NOT NULL,
    processed_at BIGINT NOT NULL
);
CREATE INDEX downloaded_batch_day ON downloaded_batch (day, position);
