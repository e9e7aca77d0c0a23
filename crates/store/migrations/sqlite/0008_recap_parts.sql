-- Events (issue 9): the AI recap parts that arrive in Dialpad's `recap_*` call events, kept per
-- connection and call so that `expand=recap` answers them where Dialpad's REST recap
-- (`GET /call/{id}/ai_recap`) is unavailable. One row per part; a later event of the same part
-- replaces it. Purged with the events (retention), and with the connection.
CREATE TABLE recap_parts (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    call_id         TEXT NOT NULL,
    part            TEXT NOT NULL,
    body            TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (connection_id, call_id, part)
);
CREATE INDEX recap_parts_age ON recap_parts (updated_at);
