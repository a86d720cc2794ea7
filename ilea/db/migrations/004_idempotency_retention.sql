-- Idempotency keys are kept for a retention window (ILEA_IDEMPOTENCY_RETENTION_HOURS), then
-- deleted by the API's maintenance loop. Without this index that delete, like the
-- abandoned-key delete it replaces, scanned a table that grew by one row per POST, every
-- 10 seconds in every API process.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
