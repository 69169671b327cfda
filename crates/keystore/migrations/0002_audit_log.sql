-- The audit trail (warnkit_store::audit): who did what, to what, when. Never a secret: no teleTAN, TAN,
-- password, API key or GUID is ever written here. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE audit_log (
    at_micros BIGINT NOT NULL,               -- microseconds since the Unix epoch
    actor     TEXT   NOT NULL,               -- account name, cli:<unix user>, or (unknown)
    action    TEXT   NOT NULL,               -- dotted by area: portal.sign-in, teletan.issue, ...
    subject   TEXT   NOT NULL                -- account name, lab id, teleTAN type, or empty
);
CREATE INDEX audit_log_at_micros ON audit_log (at_micros);
