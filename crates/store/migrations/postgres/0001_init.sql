-- stateplane's schema on PostgreSQL: the same tables, columns and indexes as migrations/sqlite, so that
-- both backends answer the same queries the same way. Each resource is stored whole as JSON text in
-- `body`; the other columns are copies of the fields the API filters and sorts by, rewritten from the
-- body on every write. Timestamps are fixed-width RFC 3339 UTC text with microseconds, so text order is
-- time order.
--
-- Every text column is `COLLATE "C"`: byte order, exactly SQLite's BINARY order, whatever the database's
-- default collation is (a locale collation would sort names with '-' or upper case differently and could
-- not serve `ORDER BY` from the indexes as cheaply). Only `events.seq` is spelt differently from SQLite
-- (an identity column instead of AUTOINCREMENT).

CREATE TABLE namespaces (
    name             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL
);

CREATE TABLE deployment_defaults (
    namespace        TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES namespaces (name),
    modified_at      TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL
);

CREATE TABLE deployments (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    namespace        TEXT COLLATE "C" NOT NULL REFERENCES namespaces (name),
    name             TEXT COLLATE "C" NOT NULL,
    desired_state    TEXT COLLATE "C" NOT NULL,
    status_state     TEXT COLLATE "C" NOT NULL,
    target_name      TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL,
    UNIQUE (namespace, name),
    -- the parent key of the (namespace, deployment_id) foreign keys below: a child row can only name a
    -- deployment of its own namespace.
    UNIQUE (namespace, id)
);
CREATE INDEX deployments_by_created ON deployments (namespace, created_at, id);
CREATE INDEX deployments_by_target ON deployments (namespace, target_name);

CREATE TABLE deployment_targets (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    namespace        TEXT COLLATE "C" NOT NULL REFERENCES namespaces (name),
    name             TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE jobs (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    namespace        TEXT COLLATE "C" NOT NULL,
    deployment_id    TEXT COLLATE "C" NOT NULL,
    state            TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL,
    FOREIGN KEY (namespace, deployment_id) REFERENCES deployments (namespace, id)
);
CREATE INDEX jobs_by_deployment ON jobs (namespace, deployment_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_namespace ON jobs (namespace, created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('STARTING', 'STARTED', 'TERMINATING');

CREATE TABLE savepoints (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    namespace        TEXT COLLATE "C" NOT NULL,
    deployment_id    TEXT COLLATE "C" NOT NULL,
    job_id           TEXT COLLATE "C",
    state            TEXT COLLATE "C" NOT NULL,
    origin           TEXT COLLATE "C" NOT NULL,
    location_key     TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    resource_version BIGINT           NOT NULL,
    body             TEXT             NOT NULL,
    FOREIGN KEY (namespace, deployment_id) REFERENCES deployments (namespace, id)
);
-- list by deployment and restore selection (newest first)
CREATE INDEX savepoints_by_deployment ON savepoints (namespace, deployment_id, created_at DESC, id DESC);
-- list by namespace (newest first, with a limit)
CREATE INDEX savepoints_by_namespace ON savepoints (namespace, created_at DESC, id DESC);
CREATE INDEX savepoints_by_job ON savepoints (job_id);
-- "does any other resource point to this snapshot?" before disposing of data
CREATE INDEX savepoints_by_location ON savepoints (location_key);
-- the controller's resume-after-restart scan; small because few savepoints are in flight at a time
CREATE INDEX savepoints_in_flight ON savepoints (state) WHERE state IN ('STARTED', 'PENDING_DELETION', 'DELETING');

CREATE TABLE events (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT COLLATE "C" NOT NULL UNIQUE,
    namespace        TEXT COLLATE "C" NOT NULL REFERENCES namespaces (name),
    deployment_id    TEXT COLLATE "C",
    job_id           TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    body             TEXT             NOT NULL,
    FOREIGN KEY (namespace, deployment_id) REFERENCES deployments (namespace, id)
);
CREATE INDEX events_by_deployment ON events (namespace, deployment_id, seq);
CREATE INDEX events_by_namespace ON events (namespace, seq);

CREATE TABLE jar_cache (
    rest_url         TEXT COLLATE "C" NOT NULL,
    sha256           TEXT COLLATE "C" NOT NULL,
    jar_id           TEXT             NOT NULL,
    PRIMARY KEY (rest_url, sha256)
);
