-- Who may not act on a review task (the proposal's submitter and revisers), kept on the
-- task row itself so the inbox query needs no join with proposals.
ALTER TABLE tasks ADD COLUMN authors text[] NOT NULL DEFAULT '{}';
UPDATE tasks t SET authors = ARRAY[p.submitted_by] FROM proposals p WHERE p.id = t.proposal_id;
