-- The read model, the audit trail, the instructor roster and its bookings.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Reference data -------------------------------------------------------------
CREATE TABLE academies (
    code text PRIMARY KEY,
    name text NOT NULL,
    region text NOT NULL
);

CREATE TABLE topics (
    code text PRIMARY KEY,
    label text NOT NULL
);

CREATE TABLE agency_components (
    agency text NOT NULL,
    component text NOT NULL,
    PRIMARY KEY (agency, component)
);

-- Proposals: one row per workflow, written only by the workflow's projection --
CREATE TABLE proposals (
    id text PRIMARY KEY,
    title text NOT NULL,
    academy text NOT NULL REFERENCES academies (code),
    course_type text NOT NULL,
    topic text NOT NULL REFERENCES topics (code),
    stage text NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    overdue boolean NOT NULL DEFAULT false,
    submitted_by text NOT NULL,
    submitted_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL,
    pending_parties text[] NOT NULL DEFAULT '{}',
    pending_agencies text[] NOT NULL DEFAULT '{}',
    doc jsonb NOT NULL
);
-- Cursor pagination runs newest first on (submitted_at, id), which never change.
CREATE INDEX proposals_order ON proposals (submitted_at DESC, id DESC);
CREATE INDEX proposals_stage ON proposals (stage, submitted_at DESC, id DESC);
CREATE INDEX proposals_academy ON proposals (academy, submitted_at DESC, id DESC);
CREATE INDEX proposals_topic ON proposals (topic, submitted_at DESC, id DESC);
CREATE INDEX proposals_pending ON proposals USING gin (pending_agencies);
CREATE INDEX proposals_title_trgm ON proposals USING gin (title gin_trgm_ops);

-- Pending actions, one row per (proposal, party[, request]): the task inbox --
CREATE TABLE tasks (
    proposal_id text NOT NULL REFERENCES proposals (id) ON DELETE CASCADE,
    party text NOT NULL,
    kind text NOT NULL,
    request_id text,
    title text NOT NULL,
    since timestamptz NOT NULL,
    due timestamptz
);
CREATE INDEX tasks_party ON tasks (party, since, proposal_id);
CREATE INDEX tasks_proposal ON tasks (proposal_id);

-- Stage history, for the cycle-time report ---------------------------------------
CREATE TABLE stage_periods (
    proposal_id text NOT NULL REFERENCES proposals (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    stage text NOT NULL,
    entered_at timestamptz NOT NULL,
    left_at timestamptz,
    PRIMARY KEY (proposal_id, seq)
);
CREATE INDEX stage_periods_stage ON stage_periods (stage);

-- Audit trail: append-only, hash-chained per proposal -----------------------------
CREATE TABLE audit_events (
    proposal_id text NOT NULL,
    seq integer NOT NULL,
    event_key text NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    agency text,
    action text NOT NULL,
    detail jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (proposal_id, seq),
    UNIQUE (proposal_id, event_key)
);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Notifications (the outbox for email) ---------------------------------------------
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    proposal_id text NOT NULL,
    event_key text NOT NULL,
    party text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    email_status text NOT NULL DEFAULT 'pending',
    email_attempts integer NOT NULL DEFAULT 0,
    sent_at timestamptz,
    UNIQUE (proposal_id, event_key)
);
CREATE INDEX notifications_party ON notifications (party, created_at DESC);
CREATE INDEX notifications_outbox ON notifications (email_status, id) WHERE email_status = 'pending';

-- Instructor roster ----------------------------------------------------------------
CREATE TABLE instructors (
    id text PRIMARY KEY,
    name text NOT NULL,
    agency text NOT NULL CHECK (agency IN ('TREASURY', 'DHS', 'DOJ')),
    component text NOT NULL,
    expertise text[] NOT NULL,
    languages text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    deactivated_at timestamptz,
    FOREIGN KEY (agency, component) REFERENCES agency_components (agency, component)
);
CREATE INDEX instructors_agency ON instructors (agency, name);
CREATE INDEX instructors_expertise ON instructors USING gin (expertise);

-- Instructor requests (read model of the workflow's slots) ---------------------------
CREATE TABLE instructor_requests (
    id text PRIMARY KEY,
    proposal_id text NOT NULL REFERENCES proposals (id) ON DELETE CASCADE,
    slot integer NOT NULL,
    agency text NOT NULL,
    expertise text NOT NULL,
    status text NOT NULL,
    instructor_id text REFERENCES instructors (id),
    due timestamptz NOT NULL,
    reason text,
    doc jsonb NOT NULL
);
CREATE INDEX instructor_requests_proposal ON instructor_requests (proposal_id, slot);
CREATE INDEX instructor_requests_agency ON instructor_requests (agency, status);

-- Bookings: no instructor on two overlapping courses, enforced by the database -------
CREATE TABLE bookings (
    id bigserial PRIMARY KEY,
    instructor_id text NOT NULL REFERENCES instructors (id),
    request_id text NOT NULL,
    proposal_id text NOT NULL,
    course_title text NOT NULL,
    during daterange NOT NULL,
    booked_at timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    release_reason text,
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
        instructor_id WITH =, during WITH &&
    ) WHERE (released_at IS NULL)
);
-- At most one live booking per request.
CREATE UNIQUE INDEX bookings_live_request ON bookings (request_id) WHERE released_at IS NULL;
CREATE INDEX bookings_proposal ON bookings (proposal_id);

-- Idempotency keys of POST requests -------------------------------------------------------
CREATE TABLE idempotency_keys (
    caller text NOT NULL,
    key text NOT NULL,
    method_path text NOT NULL,
    body_hash text NOT NULL,
    status_code integer,
    response bytea,
    content_type text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
