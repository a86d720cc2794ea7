-- The email outbox records when a sender claimed a row, so a row left in 'sending' by a
-- process that died mid-send is claimed again once the claim is stale (at-least-once
-- delivery; the Message-ID stays the same so receivers can drop the duplicate).
ALTER TABLE notifications ADD COLUMN claimed_at timestamptz;
-- Rows already in 'sending' (left by a crash before this column existed) count as claimed now.
UPDATE notifications SET claimed_at = now() WHERE email_status = 'sending';
CREATE INDEX notifications_claimed ON notifications (claimed_at) WHERE email_status = 'sending';
