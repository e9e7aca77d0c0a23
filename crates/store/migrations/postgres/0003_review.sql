-- Review of the release binary: a connect link is bound to the first browser that presses
-- Connect on it (SHA-256 of that browser's binding cookie; NULL until then, and for app
-- sessions).
ALTER TABLE sessions ADD COLUMN browser_hash TEXT;
