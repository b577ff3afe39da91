"""Run pipeline: automation runs, their per-token idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE automation_runs (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- list order and cursor
        job_id          text,
        trigger         text NOT NULL CHECK (trigger IN ('cron', 'manual')),
        state           text NOT NULL DEFAULT 'PENDING' CHECK (
                            state IN ('PENDING', 'SCHEDULED', 'EXECUTING', 'COMPLETED', 'FAILED')),
        dry_run         boolean NOT NULL DEFAULT false,
        reason          text,
        scheduled_for   timestamptz,
        requested_at    timestamptz NOT NULL DEFAULT now(),
        started_at      timestamptz,
        finished_at     timestamptz,
        heartbeat_at    timestamptz,
        attempts        integer NOT NULL DEFAULT 0,
        claimed_by      text,
        -- Fixed at the first claim and reused by retries: the highest pending id, the instant
        -- age_hours is measured at, and the enabled rules as they were.
        max_version_id  bigint,
        evaluated_at    timestamptz,
        rules           jsonb,
        last_version_id bigint NOT NULL DEFAULT 0,  -- progress: batches done up to this id
        evaluated       integer NOT NULL DEFAULT 0,
        approved        integer NOT NULL DEFAULT 0,
        rejected        integer NOT NULL DEFAULT 0,
        escalated       integer NOT NULL DEFAULT 0,
        decisions_by_rule jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"<rule id>": versions decided}
        capped          boolean NOT NULL DEFAULT false,
        cancel_requested_at timestamptz,
        error           text,
        CONSTRAINT automation_runs_job_tick_key UNIQUE (job_id, scheduled_for),
        CONSTRAINT automation_runs_final_has_finish CHECK (
            state NOT IN ('COMPLETED', 'FAILED') OR finished_at IS NOT NULL)
    );
    -- Coalescing, enforced by the database: at most one manual non-dry run is active.
    CREATE UNIQUE INDEX automation_runs_one_active_manual ON automation_runs ((true))
        WHERE trigger = 'manual' AND NOT dry_run AND state IN ('PENDING', 'SCHEDULED', 'EXECUTING');
    CREATE INDEX automation_runs_active_idx ON automation_runs (state, requested_at)
        WHERE state IN ('PENDING', 'SCHEDULED', 'EXECUTING');
    CREATE INDEX automation_runs_job_idx ON automation_runs (job_id, seq);

    CREATE TABLE idempotency_keys (
        token_name   text NOT NULL,
        key          text NOT NULL,
        request_hash text NOT NULL,
        run_id       uuid NOT NULL REFERENCES automation_runs (id),
        coalesced    boolean NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (token_name, key)
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE idempotency_keys;
    DROP TABLE automation_runs;
    """)
