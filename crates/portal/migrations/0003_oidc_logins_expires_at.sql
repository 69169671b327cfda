-- Every `GET /oidc/login` deletes the expired sign-ins in progress; this index keeps that cheap.

CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
