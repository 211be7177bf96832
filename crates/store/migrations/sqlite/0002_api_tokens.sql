-- API tokens (access control). Never the secret: `secret_hash` is SHA-256 of the per-token random
-- `salt` and the secret, hex. `token_id` is the public part of the secret (`sp_<token_id>_<random>`),
-- unique across namespaces, so that a presented secret finds its row by index instead of a scan.
-- A token belongs to its namespace and goes with it (ON DELETE CASCADE): a namespace deleted and
-- created again under the same name starts without tokens.

CREATE TABLE api_tokens (
    namespace        TEXT    NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    token_id         TEXT    NOT NULL UNIQUE,
    role             TEXT    NOT NULL,
    salt             TEXT    NOT NULL,
    secret_hash      TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    PRIMARY KEY (namespace, name)
);
