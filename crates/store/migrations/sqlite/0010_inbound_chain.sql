-- Events (issue 9): Dialpad's contact events carry no time, so their idempotency key is made
-- from the content, and a repeat is told against the contact's *latest* raw event only (a
-- contact changed and changed back, A → B → A, is three events). `chain` names the resource
-- such a key belongs to (`contact:{id}:`); NULL for keys with a time.
ALTER TABLE inbound_events ADD COLUMN chain TEXT;
CREATE INDEX inbound_events_chain ON inbound_events (connection_id, chain, seq)
    WHERE chain IS NOT NULL;
