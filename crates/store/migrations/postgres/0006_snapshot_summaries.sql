-- Snapshot summaries: what a COMPLETED savepoint's _metadata says (operators, parallelism, max
-- parallelism, state sizes), as JSON in `body` (stateplane_model::snapshot::SavepointSnapshot). One per
-- savepoint; it goes with its savepoint (ON DELETE CASCADE), so every path that deletes savepoints
-- (disposal, deployment and namespace deletion) takes it along. Listed per deployment in the order the
-- savepoints were taken, for the size-and-duration chart. The same table in both backends.

CREATE TABLE snapshot_summaries (
    savepoint_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES savepoints (id) ON DELETE CASCADE,
    namespace            TEXT COLLATE "C" NOT NULL,
    deployment_id        TEXT COLLATE "C" NOT NULL,
    savepoint_created_at TEXT COLLATE "C" NOT NULL,
    body                 TEXT NOT NULL
);
CREATE INDEX snapshot_summaries_by_deployment
    ON snapshot_summaries (namespace, deployment_id, savepoint_created_at DESC, savepoint_id DESC);
