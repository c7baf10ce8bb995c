-- Times are compared and sorted as text, so they must all have one width:
-- UTC with exactly three fraction digits (2026-01-05T10:00:00.000Z).
-- Earlier versions trimmed trailing zeros (10:00:00.1Z sorted after 10:00:00.11Z).
UPDATE srs_sessions SET opened_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', opened_at), opened_at);
UPDATE tenant_keys SET created_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', created_at), created_at);
UPDATE events SET ts = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', ts), ts),
                  received_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', received_at), received_at);
UPDATE recordings SET requested_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', requested_at), requested_at),
                      started_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', started_at), started_at),
                      stopped_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', stopped_at), stopped_at),
                      last_activity = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', last_activity), last_activity),
                      updated_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', updated_at), updated_at);
UPDATE recording_interactions SET start_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', start_at), start_at),
                                  end_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', end_at), end_at);
UPDATE media_files SET started_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', started_at), started_at);
UPDATE OR IGNORE recording_marks SET at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', at), at);
UPDATE console_sessions SET created_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', created_at), created_at),
                            expires_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', expires_at), expires_at);
UPDATE audit SET at = COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', at), at);
