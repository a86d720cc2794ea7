-- Idempotency keys are kept for a retention window (ILEA_IDEMPOTENCY_RETENTION_HOURS), then
-- deleted by the API's maintenance loop; both of its deletes were sequential scans of a table
-- that grew by one row per POST, every 10 seconds in every API process.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- The few keys still in progress, for the abandoned-key check.
CREATE INDEX idempotency_keys_in_progress ON idempotency_keys (created_at) WHERE status_code IS NULL;
