-- A TAN consumed by a check that named the payload it authorises (`payloadHash` on tan/verify), kept for
-- a while after: a repeated check of the same TAN with the same payload hash is answered as the first one
-- was, so an upload whose answer was lost (timeout, 5xx, crash between the TAN check and storing the keys)
-- is retried with its TAN to success. The payload hash is keyed by the submission service; nothing here
-- names a key. Retention deletes a row once the repeat window has passed (docs/reliability.md).
CREATE TABLE spent_tan (
    tan_hash     TEXT   NOT NULL PRIMARY KEY,
    payload_hash TEXT   NOT NULL,
    teletan_type TEXT,
    spent_at     BIGINT NOT NULL
);
-- No index on spent_at: every upload writes a row, and the hourly retention's scan of at most a day of
-- them costs less than keeping a second index on every write.
