-- API tokens (access control), the same table as migrations/sqlite/0002_api_tokens.sql. Never the
-- secret: `secret_hash` is SHA-256 of the per-token random `salt` and the secret, hex. `token_id` is
-- the public part of the secret (`sp_<token_id>_<random>`), unique across namespaces, so that a
-- presented secret finds its row by index instead of a scan. A token goes with its namespace
-- (ON DELETE CASCADE): a namespace deleted and created again under the same name starts without tokens.

CREATE TABLE api_tokens (
    namespace        TEXT COLLATE "C" NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    name             TEXT COLLATE "C" NOT NULL,
    token_id         TEXT COLLATE "C" NOT NULL UNIQUE,
    role             TEXT COLLATE "C" NOT NULL,
    salt             TEXT COLLATE "C" NOT NULL,
    secret_hash      TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, name)
);
