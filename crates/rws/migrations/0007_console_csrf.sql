-- The console's CSRF token, issued with the session cookie.
ALTER TABLE console_sessions ADD COLUMN csrf TEXT NOT NULL DEFAULT '';
