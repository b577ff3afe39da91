"""APScheduler's PostgreSQL job store, with the job's callable reference in a text column.

The table `apscheduler_jobs` is created by a migration (not by the store at start) and has
`func_ref` next to APScheduler's own columns, so operators can find the automation jobs with
psql. APScheduler 3 deletes a job whose stored callable no longer unpickles; this store logs
and skips it instead, and the reconciler writes it again from scheduled_jobs.

The store is synchronous and APScheduler calls it on the event loop, so a database that
stops answering would freeze the whole scheduler (leader probe included) for the TCP
retransmission time. `job_store_engine` bounds every call: libpq's connect_timeout,
keepalives and tcp_user_timeout (a dead network), the server's statement_timeout (a slow
statement), and a client-side deadline on every wait for the server (a silent server, or a
link whose far end still acknowledges bytes, which no TCP option detects).
"""

from __future__ import annotations

import logging
import math
import pickle
from typing import Any

import psycopg
import psycopg.errors
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import (
    Column,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Unicode,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError

from app.config import DatabaseSettings
from app.db import sqlalchemy_url
from app.logging import context

logger = logging.getLogger("scheduler")

# The store's statements are single-row reads and writes: a few seconds is generous.
STATEMENT_TIMEOUT_SECONDS = 5.0


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server ends after `wait_bound` seconds.

    psycopg waits without a deadline unless told one; past the bound the connection is in an
    unknown state (a statement may be in flight), so it is closed: SQLAlchemy then sees a
    disconnect and discards it from its pool, and the next call connects afresh."""

    wait_bound: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        """psycopg's own wait, with `wait_bound` as the deadline when no caller gave one."""
        bound = self.wait_bound if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except psycopg.errors._WaitTimeout as exc:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from PostgreSQL within {bound:g} s (DATABASE_COMMAND_TIMEOUT_SECONDS);"
                " the connection is closed"
            ) from exc


def job_store_engine(settings: DatabaseSettings) -> Engine:
    """The job store's engine: psycopg 3, every call bounded by DATABASE_CONNECT_TIMEOUT_SECONDS
    (connecting; psycopg waits at least 2 s) and DATABASE_COMMAND_TIMEOUT_SECONDS (every wait
    for an answer), so that a silent database blocks the scheduler's event loop for at most
    about their sum (a stale pooled connection is pinged, then replaced)."""
    bound = settings.command_timeout_seconds
    statement_ms = math.ceil(min(STATEMENT_TIMEOUT_SECONDS, bound) * 1000)
    probe = max(1, math.ceil(bound / 4))  # keepalive idle and interval, in whole seconds
    engine = create_engine(
        sqlalchemy_url(settings.url.get_secret_value()),
        pool_pre_ping=True,
        pool_size=2,
        connect_args={
            "connect_timeout": max(1, math.ceil(settings.connect_timeout_seconds)),
            "application_name": "tasktracker-scheduler-store",
            "options": f"-c statement_timeout={statement_ms}",
            # A dead network or peer: unacknowledged bytes, or an idle link, fail in ~bound.
            "keepalives": 1,
            "keepalives_idle": probe,
            "keepalives_interval": probe,
            "keepalives_count": 3,
            "tcp_user_timeout": math.ceil(bound * 1000),
        },
    )

    @event.listens_for(engine, "do_connect")
    def _bounded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        conn = BoundedConnection.connect(*cargs, **cparams)
        conn.wait_bound = bound
        return conn

    return engine


class AutomationJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler has no types
    """SQLAlchemyJobStore over the migrated `apscheduler_jobs`, writing `func_ref` too."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine=engine)
        self.jobs_t = Table(
            "apscheduler_jobs",
            MetaData(),
            Column("id", Unicode(191), primary_key=True),
            Column("next_run_time", Float(25), index=True),
            Column("job_state", LargeBinary, nullable=False),
            Column("func_ref", Text, nullable=False),
        )

    def start(self, scheduler: Any, alias: str) -> None:
        # The base class would CREATE TABLE; the migration owns the schema.
        super(SQLAlchemyJobStore, self).start(scheduler, alias)

    def _row(self, job: Job) -> dict[str, Any]:
        return {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            "func_ref": job.func_ref,
        }

    def add_job(self, job: Job) -> None:
        insert = self.jobs_t.insert().values(id=job.id, **self._row(job))
        with self.engine.begin() as connection:
            try:
                connection.execute(insert)
            except IntegrityError as exc:
                raise ConflictingIdError(job.id) from exc

    def update_job(self, job: Job) -> None:
        update = self.jobs_t.update().values(**self._row(job)).where(self.jobs_t.c.id == job.id)
        with self.engine.begin() as connection:
            if connection.execute(update).rowcount == 0:
                raise JobLookupError(job.id)

    def _get_jobs(self, *conditions: Any) -> list[Job]:
        query = select(self.jobs_t.c.id, self.jobs_t.c.job_state).order_by(
            self.jobs_t.c.next_run_time
        )
        if conditions:
            query = query.where(*conditions)
        jobs = []
        with self.engine.begin() as connection:
            for row in connection.execute(query):
                try:
                    jobs.append(self._reconstitute_job(row.job_state))
                except Exception:
                    logger.exception(
                        "Job cannot be restored from apscheduler_jobs; reconcile rewrites it",
                        extra=context(job=row.id),
                    )
        return jobs

    def lookup_job(self, job_id: str) -> Job | None:
        try:
            job: Job | None = super().lookup_job(job_id)
        except Exception:
            logger.exception(
                "Job cannot be restored from apscheduler_jobs; reconcile rewrites it",
                extra=context(job=job_id),
            )
            return None
        return job
