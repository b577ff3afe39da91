"""Foundation: versions, automation rules, the append-only audit log, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE versions (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entity_type   text NOT NULL CHECK (entity_type IN ('topic', 'atom')),
        entity_id     text NOT NULL CHECK (char_length(entity_id) BETWEEN 1 AND 200),
        version       integer NOT NULL CHECK (version >= 1),
        data          jsonb NOT NULL DEFAULT '{}'::jsonb,
        confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
        similarity    double precision CHECK (similarity BETWEEN 0 AND 1),
        source        text NOT NULL,
        status        text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'rejected', 'escalated')),
        decided_at    timestamptz,
        decided_by    text,
        rule_id       integer,
        rule_revision integer,
        run_id        uuid,
        reason        text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT versions_entity_version_key UNIQUE (entity_type, entity_id, version)
    );
    -- A scan of pending versions costs the backlog, not the table.
    CREATE INDEX versions_pending_idx ON versions (id) WHERE status = 'pending';

    -- The last version number handed out per entity; the row lock serialises submissions
    -- for one entity without serialising the others.
    CREATE TABLE version_counters (
        entity_type  text NOT NULL,
        entity_id    text NOT NULL,
        last_version integer NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
    );

    CREATE TABLE automation_rules (
        id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT '',
        enabled     boolean NOT NULL DEFAULT true,
        priority    integer NOT NULL CHECK (priority BETWEEN 0 AND 1000),
        action      text NOT NULL CHECK (action IN ('approve', 'reject', 'escalate')),
        conditions  jsonb NOT NULL,
        revision    integer NOT NULL DEFAULT 1,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        deleted_at  timestamptz
    );
    -- Names are unique among live rules; a deleted rule's name may be used again.
    CREATE UNIQUE INDEX automation_rules_name_key ON automation_rules (name)
        WHERE deleted_at IS NULL;
    CREATE INDEX automation_rules_order_idx ON automation_rules (priority DESC, id)
        WHERE deleted_at IS NULL;

    CREATE TABLE audit_log (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at            timestamptz NOT NULL DEFAULT now(),
        actor         text NOT NULL,
        action        text NOT NULL,
        version_id    bigint,
        rule_id       integer,
        rule_revision integer,
        run_id        uuid,
        details       jsonb NOT NULL DEFAULT '{}'::jsonb
    );
    CREATE INDEX audit_log_version_id_idx ON audit_log (version_id);
    CREATE INDEX audit_log_run_id_idx ON audit_log (run_id);
    CREATE INDEX audit_log_rule_id_idx ON audit_log (rule_id, id);
    CREATE INDEX audit_log_at_idx ON audit_log USING brin (at);

    -- Append-only for every role, owner and superuser included: privileges do not bind them,
    -- a trigger does. The one exception is the retention purge, which sets
    -- tasktracker.audit_purge_before for its own transaction and may then delete only rows
    -- older than that instant.
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        purge_before text := current_setting('tasktracker.audit_purge_before', true);
    BEGIN
        IF TG_OP = 'DELETE' AND purge_before IS NOT NULL AND purge_before <> ''
           AND OLD.at < purge_before::timestamptz THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER audit_log_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_log_append_only_truncate
        BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

    CREATE TABLE api_tokens (
        id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
        role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        token_hash   bytea NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        revoked_at   timestamptz
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE api_tokens;
    DROP TABLE audit_log;
    DROP FUNCTION audit_log_refuse_change();
    DROP TABLE automation_rules;
    DROP TABLE version_counters;
    DROP TABLE versions;
    """)
