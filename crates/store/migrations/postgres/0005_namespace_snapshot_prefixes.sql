-- The prefixes a namespace's registered snapshots may come from, set by the admin
-- (`stateplane_model::storage::prefixes`). One row per namespace that has any; `body` is the whole
-- document as JSON (normalised prefixes, when set). It belongs to its namespace and goes with it.

CREATE TABLE namespace_snapshot_prefixes (
    namespace        TEXT    NOT NULL PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
    modified_at      TEXT    NOT NULL,
    body             TEXT    NOT NULL
);
