-- `GET /metrics` counts deployments by observed state on every scrape: counted from this index alone,
-- without reading a row.
CREATE INDEX deployments_by_status_state ON deployments (status_state);
