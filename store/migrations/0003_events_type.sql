-- The log filtered by event type (GET /v1/events?event_type=): one range
-- scan in seq order (the rowid ends every index entry) instead of a scan of
-- the whole log for a rare type.
CREATE INDEX events_event_type ON events (event_type);
