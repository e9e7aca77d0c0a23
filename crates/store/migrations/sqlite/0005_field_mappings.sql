-- Unified models (issue 8): per-connection field mappings of a model (JSON list of
-- {key, path, write}), checked by the core when saved.
CREATE TABLE field_mappings (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model           TEXT NOT NULL,
    mappings        TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (connection_id, model)
);
