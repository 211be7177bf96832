-- Secret values, the same tables as migrations/sqlite/0004_secret_values.sql. `body` is the resource
-- without the value; `sealed` is the value encrypted by the server's key (ChaCha20-Poly1305 with a
-- random nonce per write and the namespace and name as associated data, see crates/secrets), so
-- neither the database nor a backup holds a value in clear. A secret value goes with its namespace
-- (ON DELETE CASCADE).

CREATE TABLE secret_values (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    namespace        TEXT COLLATE "C" NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    name             TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT NOT NULL,
    body             TEXT NOT NULL,
    sealed           TEXT NOT NULL,
    UNIQUE (namespace, name)
);

-- One known text sealed by the key of the first replica that started on this database: a replica
-- started with another key finds out before it serves anything.
CREATE TABLE secret_key_check (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    sealed           TEXT NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL
);
