-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix epoch seconds; every token is stored
-- as lowercase SHA-256 hex (hashed GUIDs arrive hashed and are stored as they are).

-- A registration: one per hashed GUID or teleTAN. tan_count counts the TANs issued for it.
CREATE TABLE app_session (
    token_hash      TEXT   NOT NULL PRIMARY KEY,
    source          TEXT   NOT NULL,
    hashed_guid     TEXT,
    hashed_guid_dob TEXT,
    teletan_type    TEXT,
    tan_count       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX app_session_created_at ON app_session (created_at);

-- Every key ever used to register (hashed GUID, date-of-birth hash, teleTAN hash): the primary key makes
-- "registers once" hold under concurrency on both engines.
CREATE TABLE registration_key (
    key_hash   TEXT   NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX registration_key_created_at ON registration_key (created_at);

-- Single-use TANs; a verified TAN is deleted.
CREATE TABLE tan (
    tan_hash     TEXT   NOT NULL PRIMARY KEY,
    teletan_type TEXT,
    valid_from   BIGINT NOT NULL,
    valid_until  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX tan_created_at ON tan (created_at);

-- teleTANs issued by officers; created_at also drives the global hourly limit.
CREATE TABLE teletan (
    teletan_hash TEXT   NOT NULL PRIMARY KEY,
    teletan_type TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    valid_until  BIGINT NOT NULL,
    redeemed_at  BIGINT
);
CREATE INDEX teletan_created_at ON teletan (created_at);
