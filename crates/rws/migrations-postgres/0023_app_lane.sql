-- The app lane (SQLite's 0023_app_lane.sql, same shape): active-window
-- changes are timeline marks of kind 'app' (reason: the WM_CLASS), with the
-- window's title when the directory keeps titles; NULL for other kinds.
ALTER TABLE recording_marks ADD COLUMN title TEXT;
