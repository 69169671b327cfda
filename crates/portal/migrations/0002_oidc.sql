-- Sign-ins in progress at the OpenID provider, keyed by the SHA-256 of their `state`; each row is taken
-- (deleted) by the callback, so a state works once, and rows older than ten minutes are swept.
-- `users.role` now holds a comma-separated list (`hotline,event`); existing single roles stay valid.

CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,                 -- PKCE code verifier
    expires_at BIGINT NOT NULL
);
