-- Edition 2 (issue 13): a notification that asks a party to act names the action it asks for
-- (`task`: the pending item's party, request and since), and clears itself once that action is
-- no longer pending (`cleared_at`, set by the projection that finds it gone).
ALTER TABLE notifications ADD COLUMN task text, ADD COLUMN cleared_at timestamptz;
CREATE INDEX notifications_open_tasks ON notifications (proposal_id) WHERE task IS NOT NULL AND cleared_at IS NULL;
