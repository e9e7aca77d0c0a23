-- Hardening (issue 7): field-level connection writes, the refresh lease, refresh failures
-- remembered, the Dialpad identity behind a grant, single-purpose connect sessions, browser
-- binding of OAuth flows.

-- Who granted the token (from /api/v2/users/me after the code exchange): connections sharing a
-- Dialpad user share one grant, and deauthorizing one would revoke them all.
ALTER TABLE connections ADD COLUMN dialpad_user_id TEXT;
ALTER TABLE connections ADD COLUMN dialpad_company_id TEXT;
CREATE INDEX connections_dialpad_user ON connections (dialpad_user_id);

-- The last refresh that failed for the current credentials version ('refused' or
-- 'unavailable'), so requests queued behind it do not resend a dead refresh token. Cleared by
-- every credentials write.
ALTER TABLE credentials ADD COLUMN refresh_failure TEXT;
ALTER TABLE credentials ADD COLUMN refresh_failed_at TIMESTAMPTZ;

-- Single-flight refresh across instances without holding a transaction across Dialpad's token
-- call: a lease row taken and released in short statements; an expired lease may be taken over.
CREATE TABLE refresh_leases (
    connection_id   TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    holder          TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

-- 'app' sessions use the /v1/s/ routes; 'connect' sessions only open the hosted connect page
-- and start its authorization, with the redirect target stored server-side.
ALTER TABLE sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'app';
ALTER TABLE sessions ADD COLUMN redirect_url TEXT;
ALTER TABLE sessions ADD COLUMN extra_scopes JSONB NOT NULL DEFAULT '[]';

-- SHA-256 of the browser-binding cookie set by the connect page (NULL for direct-mode flows).
ALTER TABLE oauth_states ADD COLUMN browser_hash TEXT;
