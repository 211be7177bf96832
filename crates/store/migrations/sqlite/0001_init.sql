-- stateplane's schema. Each resource is stored whole as JSON in `body`; the other columns are copies of
-- the fields the API filters and sorts by, rewritten from the body on every write. Timestamps are
-- fixed-width RFC 3339 UTC with microseconds, so text order is time order. The PostgreSQL schema is the
-- same table by table (only `events.seq` is spelt differently there).

CREATE TABLE namespaces (
    name             TEXT    NOT NULL PRIMARY KEY,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL
);

CREATE TABLE deployment_defaults (
    namespace        TEXT    NOT NULL PRIMARY KEY REFERENCES namespaces (name),
    modified_at      TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL
);

CREATE TABLE deployments (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL REFERENCES namespaces (name),
    name             TEXT    NOT NULL,
    desired_state    TEXT    NOT NULL,
    status_state     TEXT    NOT NULL,
    target_name      TEXT,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
    UNIQUE (namespace, name),
    -- the parent key of the (namespace, deployment_id) foreign keys below: a child row can only name a
    -- deployment of its own namespace, and the children's (namespace, deployment_id, ...) indexes serve
    -- the foreign-key checks on delete.
    UNIQUE (namespace, id)
);
CREATE INDEX deployments_by_created ON deployments (namespace, created_at, id);
CREATE INDEX deployments_by_target ON deployments (namespace, target_name);

CREATE TABLE deployment_targets (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL REFERENCES namespaces (name),
    name             TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE jobs (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL,
    deployment_id    TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
    FOREIGN KEY (namespace, deployment_id) REFERENCES deployments (namespace, id)
);
CREATE INDEX jobs_by_deployment ON jobs (namespace, deployment_id, created_at DESC, id DESC);
CREATE INDEX jobs_by_namespace ON jobs (namespace, created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('STARTING', 'STARTED', 'TERMINATING');

CREATE TABLE savepoints (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL,
    deployment_id    TEXT    NOT NULL,
    job_id           TEXT,
    state            TEXT    NOT NULL,
    origin           TEXT    NOT NULL,
    location_key     TEXT,
    created_at       TEXT    NOT NULL,
    resource_version BIGINT  NOT NULL,
    body             TEXT    NOT NULL,
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
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    namespace        TEXT    NOT NULL REFERENCES namespaces (name),
    deployment_id    TEXT,
    job_id           TEXT,
    created_at       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    FOREIGN KEY (namespace, deployment_id) REFERENCES deployments (namespace, id)
);
CREATE INDEX events_by_deployment ON events (namespace, deployment_id, seq);
CREATE INDEX events_by_namespace ON events (namespace, seq);

CREATE TABLE jar_cache (
    rest_url         TEXT    NOT NULL,
    sha256           TEXT    NOT NULL,
    jar_id           TEXT    NOT NULL,
    PRIMARY KEY (rest_url, sha256)
);
