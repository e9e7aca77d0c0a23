-- Events (issue 9): `delivery_attempts.delivery_id` cascades from `deliveries`, and without an
-- index each delivery deleted (the retention purge, an endpoint deleted) scanned every attempt:
-- purging 20,000 events took 47 s on SQLite and 66 s on PostgreSQL, growing with the square of
-- the backlog, while holding the writer.
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
