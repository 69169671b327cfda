-- A revoked lab key (`warnkit lab key revoke`) is refused from the next request on; its row stays, so
-- `warnkit lab key list` still shows when it was created and revoked. Portable SQL: SQLite and PostgreSQL.
ALTER TABLE lab_key ADD COLUMN revoked_at BIGINT;
