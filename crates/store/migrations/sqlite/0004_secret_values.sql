-- Secret values (`${NAME}` in a deployment's Flink configuration and jar URI). `body` is the resource
-- without the value; `sealed` is the value encrypted by the server's key (ChaCha20-Poly1305 with a
-- random nonce per write and the namespace and name as associated data, see crates/secrets), so
-- neither this file, its WAL nor a backup holds a value in clear. A secret value belongs to its
-- namespace and goes with it (ON DELETE CASCADE).

CREATE TABLE secret_values (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
    sealed           TEXT    NOT NULL,
    UNIQUE (namespace, name)
);

-- One known text sealed by the key of the first server that started on this database: a server
-- started with another key finds out before it serves anything, instead of failing on every secret.
CREATE TABLE secret_key_check (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    sealed           TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);
