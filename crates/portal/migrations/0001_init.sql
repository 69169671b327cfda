-- The portal's own data: officer accounts, their sessions and failed sign-ins. No teleTAN is ever stored here.
-- Flags are BIGINT 0/1 and times are epoch seconds, so the same SQL and row types work on SQLite and PostgreSQL.

CREATE TABLE users (
    username        TEXT PRIMARY KEY,
    password_hash   TEXT NOT NULL,            -- PHC string, Argon2id
    role            TEXT NOT NULL,            -- hotline | health-authority | admin
    totp_required   BIGINT NOT NULL,
    totp_secret     TEXT,                     -- base32; set at enrolment
    totp_confirmed  BIGINT NOT NULL DEFAULT 0,
    totp_last_step  BIGINT NOT NULL DEFAULT 0, -- refuses a replayed code
    last_teletan_at BIGINT,                   -- the per-officer teleTAN interval
    created_at      BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,              -- SHA-256 hex of the cookie value
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    stage      TEXT NOT NULL,                 -- totp | enrol | active
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
