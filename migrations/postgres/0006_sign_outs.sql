-- Dashboard sessions signed out before they expired (as SQLite's 0011),
-- so that a copied cookie is refused by every daemon of the database, and
-- after a restart.
CREATE TABLE sign_outs (
    session    TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
