-- The access log (006) is append-only, like the audit trail: the application's role (005) may
-- read and append it, and neither update, delete nor truncate it. (005's default privileges
-- gave every later table the full set; an append-only table takes those three back.)
REVOKE UPDATE, DELETE, TRUNCATE ON access_events FROM ilea_app;
