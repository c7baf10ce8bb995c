-- The app lane: active-window changes are timeline marks of kind 'app'
-- (reason: the WM_CLASS), with the window's title when the directory keeps
-- titles (app_titles); NULL for every other kind.
ALTER TABLE recording_marks ADD COLUMN title TEXT;
