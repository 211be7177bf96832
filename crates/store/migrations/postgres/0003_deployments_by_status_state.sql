-- `GET /metrics` counts deployments by observed state on every scrape: counted from this index (an
-- index-only scan once the table is vacuumed), without reading a body.
CREATE INDEX deployments_by_status_state ON deployments (status_state);
