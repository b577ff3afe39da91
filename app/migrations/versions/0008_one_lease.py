"""One lease for runs and shards: automation_leases, the parent of both tables.

A run (or, once it is split, each of its shards) is a lease: claimed as a new epoch on the
session that evaluates it, kept by its heartbeat, fenced, handed back, taken over when stale,
republished and failed `lost`. Both tables carry the lease's columns; with PostgreSQL's table
inheritance each verb of the lease (app/sql/automation.sql, "Leases") is one statement over
the parent, whichever kind of row it holds (SPEC 6.3: "one mechanism, not a copy").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The lease's columns, as both children declare them. It holds no rows of its own (the
    -- NO INHERIT check refuses them); a query on it reads and writes its children's rows.
    CREATE TABLE automation_leases (
        id                 uuid NOT NULL,
        state              text NOT NULL,
        attempts           integer NOT NULL,
        handed_back        boolean NOT NULL,
        claimed_by         text,
        lease_epoch        bigint NOT NULL,
        backend_pid        integer,
        backend_started_at timestamptz,
        heartbeat_at       timestamptz,
        published_at       timestamptz,
        started_at         timestamptz,
        finished_at        timestamptz,
        capped             boolean NOT NULL,
        error              text,
        CONSTRAINT automation_leases_holds_no_rows CHECK (false) NO INHERIT
    );
    ALTER TABLE automation_runs INHERIT automation_leases;
    ALTER TABLE automation_run_shards INHERIT automation_leases;
    -- A split run's lease passed to its shards: nobody holds the run itself. So an
    -- EXECUTING run is held by its worker (claimed_by) or by its shards, never by nobody.
    UPDATE automation_runs SET claimed_by = NULL WHERE shards > 0 AND state = 'EXECUTING';
    ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_executing_is_held CHECK (
        state <> 'EXECUTING' OR (claimed_by IS NOT NULL) <> (shards > 0));
    ALTER TABLE automation_run_shards ADD CONSTRAINT automation_run_shards_executing_is_held
        CHECK (state <> 'EXECUTING' OR claimed_by IS NOT NULL);
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE automation_run_shards DROP CONSTRAINT automation_run_shards_executing_is_held;
    ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_executing_is_held;
    ALTER TABLE automation_run_shards NO INHERIT automation_leases;
    ALTER TABLE automation_runs NO INHERIT automation_leases;
    DROP TABLE automation_leases;
    """)
