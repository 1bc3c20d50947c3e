-- Dashboard sessions signed out before they expired, so that a copied
-- cookie stays refused after a restart and on every daemon of a database.
-- `session` is the SHA-256 (hex) of the session's id, never the id itself;
-- a row goes once its session would have expired anyway (`expires_at`,
-- Unix milliseconds).
CREATE TABLE sign_outs (
    session    TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
