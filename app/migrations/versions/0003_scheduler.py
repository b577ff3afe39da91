"""Scheduler: job definitions, APScheduler's job store (with func_ref), the leader's status,
and the default job daily-automation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op
from sqlalchemy import text

from app.config import load_settings

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The source of truth for jobs; the scheduler reconciles APScheduler's store to it.
    CREATE TABLE scheduled_jobs (
        id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- list order and cursor
        name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        cron        text NOT NULL,
        timezone    text NOT NULL,
        task        text NOT NULL DEFAULT 'automation.run' CHECK (task IN ('automation.run')),
        enabled     boolean NOT NULL DEFAULT true,
        -- PENDING until the scheduler registers it, then SCHEDULED or PAUSED; REMOVED once
        -- deleted. EXECUTING, COMPLETED and FAILED are read from the job's runs.
        state       text NOT NULL DEFAULT 'PENDING'
                    CHECK (state IN ('PENDING', 'SCHEDULED', 'PAUSED', 'REMOVED')),
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        removed_at  timestamptz
    );

    -- APScheduler's own table, with func_ref: the job's callable reference in plain text.
    CREATE TABLE apscheduler_jobs (
        id            varchar(191) PRIMARY KEY,
        next_run_time double precision,
        job_state     bytea NOT NULL,
        func_ref      text NOT NULL
    );
    CREATE INDEX ix_apscheduler_jobs_next_run_time ON apscheduler_jobs (next_run_time);

    CREATE TABLE scheduler_status (
        singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        leader_host    text,
        leader_pid     integer,
        leader_since   timestamptz,
        leader_backend integer,  -- the leader's PostgreSQL backend pid: holds the lock
        last_wakeup_at timestamptz,
        missed_ticks   bigint NOT NULL DEFAULT 0
    );
    INSERT INTO scheduler_status DEFAULT VALUES;

    ALTER TABLE automation_runs
        ADD CONSTRAINT automation_runs_job_id_fkey
        FOREIGN KEY (job_id) REFERENCES scheduled_jobs (id);

    -- Wake the scheduler when a definition changes.
    CREATE FUNCTION scheduled_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('scheduled_jobs_changed', coalesce(NEW.id, OLD.id));
        RETURN NULL;
    END;
    $$;
    CREATE TRIGGER scheduled_jobs_changed AFTER INSERT OR UPDATE OR DELETE ON scheduled_jobs
        FOR EACH ROW EXECUTE FUNCTION scheduled_jobs_notify();
    """)
    op.get_bind().execute(
        text(
            "INSERT INTO scheduled_jobs (id, name, cron, timezone)"
            " VALUES ('daily-automation', 'Daily automation', '0 9 * * *', :tz)"
        ),
        {"tz": load_settings().scheduler.timezone},
    )


def downgrade() -> None:
    op.execute("""
    ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_job_id_fkey;
    DROP TABLE scheduler_status;
    DROP TABLE apscheduler_jobs;
    DROP TABLE scheduled_jobs;
    DROP FUNCTION scheduled_jobs_notify();
    """)
