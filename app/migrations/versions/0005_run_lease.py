"""Run lifecycle: SCHEDULED as a lease, the evaluator's lease with a fencing epoch, one list of
active run states.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- When the run's latest wake-up message was handed to RabbitMQ (NULL: none is in flight,
    -- e.g. a run parked behind the active one). A SCHEDULED run not claimed within
    -- AUTOMATION_REDELIVER_SECONDS of it is published again; setting it by a conditional
    -- UPDATE lets exactly one process republish.
    ALTER TABLE automation_runs ADD COLUMN published_at timestamptz;
    -- The fencing token: every claim adds one, and every write of the claiming worker names
    -- the epoch it claimed, so a worker that was superseded writes nothing more.
    ALTER TABLE automation_runs ADD COLUMN lease_epoch bigint NOT NULL DEFAULT 0;
    -- The session that evaluates the run (pid and start, so that a reused pid is never
    -- mistaken for it): ended with pg_terminate_backend when the lease is taken over.
    ALTER TABLE automation_runs ADD COLUMN backend_pid integer;
    ALTER TABLE automation_runs ADD COLUMN backend_started_at timestamptz;
    -- Handed back by a stopping worker: its next claim continues the same attempt.
    ALTER TABLE automation_runs ADD COLUMN handed_back boolean NOT NULL DEFAULT false;

    -- One exclusive evaluator, enforced by the database: at most one non-dry run EXECUTING.
    -- Its liveness is the row's heartbeat_at, judged by the database's clock.
    CREATE UNIQUE INDEX automation_runs_one_evaluating ON automation_runs ((true))
        WHERE NOT dry_run AND state = 'EXECUTING';

    -- The one definition of "active" (not finished) for every query. Inlined by the planner,
    -- so the partial indexes over the same states still match.
    CREATE FUNCTION automation_run_is_active(state text) RETURNS boolean
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN state IN ('PENDING', 'SCHEDULED', 'EXECUTING');
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION automation_run_is_active(text);
    DROP INDEX automation_runs_one_evaluating;
    ALTER TABLE automation_runs DROP COLUMN handed_back;
    ALTER TABLE automation_runs DROP COLUMN backend_started_at;
    ALTER TABLE automation_runs DROP COLUMN backend_pid;
    ALTER TABLE automation_runs DROP COLUMN lease_epoch;
    ALTER TABLE automation_runs DROP COLUMN published_at;
    """)
