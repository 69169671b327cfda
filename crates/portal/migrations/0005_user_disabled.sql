-- An operator can disable an account (`warnkit portal user disable`): it cannot sign in and its sessions end,
-- but it keeps its name, roles and second factor for `enable`. The last completed sign-in is shown by
-- `warnkit portal user list`. Portable SQL: runs unchanged on SQLite and PostgreSQL.
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;
