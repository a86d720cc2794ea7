-- People and their grants, the hash-chained access log, and the web sign-in's server-side state
-- (issue 18: OpenID Connect sign-in, roles granted in ILEA).

-- A person as the identity provider names them (sub), and what ILEA grants them.
CREATE TABLE people (
    sub text PRIMARY KEY CHECK (length(sub) BETWEEN 1 AND 128),
    name text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    agency text NOT NULL,
    roles text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
CREATE INDEX people_agency ON people (agency);
CREATE INDEX people_roles ON people USING gin (roles);

-- Every grant, revocation, sign-in, refused sign-in, sign-out and ended session: one chain.
CREATE TABLE access_events (
    seq integer PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    sub text,
    action text NOT NULL,
    detail jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX access_events_sub ON access_events (sub, seq);

CREATE FUNCTION access_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER access_events_no_update BEFORE UPDATE OR DELETE ON access_events
    FOR EACH ROW EXECUTE FUNCTION access_events_append_only();
CREATE TRIGGER access_events_no_truncate BEFORE TRUNCATE ON access_events
    FOR EACH STATEMENT EXECUTE FUNCTION access_events_append_only();

-- A signed-in browser. The cookie holds a random id; only its SHA-256 is stored, so a copy of
-- this table does not let anyone sign in. Deleted at sign-out, or when found expired.
CREATE TABLE web_sessions (
    id_hash text PRIMARY KEY,
    sub text NOT NULL,
    name text NOT NULL DEFAULT '',
    -- agency and roles as claimed (development sign-in, or an ID token under
    -- ILEA_TRUST_TOKEN_ROLES); otherwise roles come from people at every request
    claims jsonb,
    via text NOT NULL,
    -- the provider's ID token, sent back as id_token_hint when signing out there
    id_token text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_sub ON web_sessions (sub);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- A sign-in under way at the identity provider: single use, bound to the browser that began it.
CREATE TABLE oidc_logins (
    state text PRIMARY KEY,
    browser_hash text NOT NULL,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    redirect_uri text NOT NULL,
    next_path text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oidc_logins_created ON oidc_logins (created_at);
