-- Edition 2 (issue 13): each proposal's owner and human reference, notifications read per
-- person, and the application's own database role, which cannot rewrite the audit trail.

-- Owner and reference -----------------------------------------------------------------------
-- The reference is ILEA-<federal fiscal year>-<nnnn>, numbered per fiscal year (which starts on
-- 1 October, Eastern Time) in the order proposals are first recorded. A counter row per year,
-- taken FOR UPDATE by the insert, keeps the numbers gapless (a sequence would burn one per
-- rolled-back insert).
ALTER TABLE proposals ADD COLUMN owner text, ADD COLUMN reference text;

CREATE TABLE reference_counters (
    fiscal_year integer PRIMARY KEY,
    last integer NOT NULL
);

CREATE FUNCTION fiscal_year(at timestamptz) RETURNS integer LANGUAGE sql STABLE AS $$
    -- October to December belong to the next year's budget: shift by three months.
    SELECT extract(year FROM (at AT TIME ZONE 'America/New_York') + interval '3 months')::integer
$$;

CREATE FUNCTION format_reference(fiscal_year integer, n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('ILEA-%s-%s', fiscal_year, CASE WHEN n < 10000 THEN lpad(n::text, 4, '0') ELSE n::text END)
$$;

CREATE FUNCTION next_reference(at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    fy integer := fiscal_year(at);
    n integer;
BEGIN
    INSERT INTO reference_counters AS c (fiscal_year, last) VALUES (fy, 1)
        ON CONFLICT (fiscal_year) DO UPDATE SET last = c.last + 1
        RETURNING c.last INTO n;
    RETURN format_reference(fy, n);
END $$;

-- Proposals recorded before this migration: numbered in submission order, owned by their submitter.
WITH numbered AS (
    SELECT id, fiscal_year(submitted_at) AS fy,
        row_number() OVER (PARTITION BY fiscal_year(submitted_at) ORDER BY submitted_at, id)::integer AS n
    FROM proposals
), updated AS (
    UPDATE proposals p SET reference = format_reference(numbered.fy, numbered.n), owner = p.submitted_by
    FROM numbered WHERE p.id = numbered.id
    RETURNING numbered.fy, numbered.n
)
INSERT INTO reference_counters (fiscal_year, last) SELECT fy, max(n) FROM updated GROUP BY fy;

-- The projection writes whole rows (INSERT ... ON CONFLICT DO UPDATE): the reference is given
-- on the first insert only (a proposal's writes are serialised by its advisory lock, so every
-- later projection finds the row and takes no number), and never changes after.
-- The owner is the workflow's (`doc.owner`, once the workflow records one), else the submitter.
CREATE FUNCTION proposals_owner_and_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.owner := coalesce(NEW.doc ->> 'owner', NEW.owner, NEW.submitted_by);
        IF NEW.reference IS NULL THEN
            -- A repeated projection conflicts on the id and updates instead: it keeps the number.
            SELECT reference INTO NEW.reference FROM proposals WHERE id = NEW.id;
            IF NOT FOUND THEN
                NEW.reference := next_reference(NEW.submitted_at);
            END IF;
        END IF;
    ELSE
        NEW.owner := coalesce(NEW.doc ->> 'owner', OLD.owner);
        NEW.reference := coalesce(OLD.reference, NEW.reference);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER proposals_owner_and_reference BEFORE INSERT OR UPDATE ON proposals
    FOR EACH ROW EXECUTE FUNCTION proposals_owner_and_reference();

ALTER TABLE proposals ALTER COLUMN owner SET NOT NULL, ALTER COLUMN reference SET NOT NULL;
CREATE UNIQUE INDEX proposals_reference ON proposals (reference);
CREATE INDEX proposals_owner ON proposals (owner, submitted_at DESC, id DESC);
-- `q` matches the title or the reference.
CREATE INDEX proposals_reference_trgm ON proposals USING gin (reference gin_trgm_ops);

-- Notifications read, per person ---------------------------------------------------------
CREATE TABLE notification_reads (
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    sub text NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, sub)
);
-- An auditor's list: every party's, newest first.
CREATE INDEX notifications_created ON notifications (created_at DESC, id DESC);

-- The application's role -------------------------------------------------------------------
-- Migrations run as the tables' owner; the API and the worker log in as a member of
-- `ilea_app`, which may read and write the operational tables but only read and append the
-- audit trail: no UPDATE, DELETE or TRUNCATE, and (not being the owner) no way to disable the
-- append-only triggers. Production creates its login role with
-- `CREATE ROLE <login> LOGIN PASSWORD '...' IN ROLE ilea_app`; `ilea dev` does the same.
DO $$
BEGIN
    -- A DBA may have created it beforehand (then the owner needs no CREATEROLE).
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ilea_app') THEN
        CREATE ROLE ilea_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- another database's migration on this server created it just now
END $$;

GRANT USAGE ON SCHEMA public TO ilea_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ilea_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ilea_app;
-- Reference data and the migration record are the owner's.
REVOKE INSERT, UPDATE, DELETE ON academies, topics, agency_components, schema_migrations FROM ilea_app;
-- The audit trail: read and append only.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM ilea_app;
-- Tables and sequences of later migrations (run by the same owner) get the same grants; an
-- append-only table must revoke UPDATE, DELETE and TRUNCATE from ilea_app in its migration.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ilea_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ilea_app;
