"""APScheduler's PostgreSQL job store, with the job's callable reference in a text column.

The table `apscheduler_jobs` is created by a migration (not by the store at start) and has
`func_ref` next to APScheduler's own columns, so operators can find the automation jobs with
psql. APScheduler 3 deletes a job whose stored callable no longer unpickles; this store logs
and skips it instead, and the reconciler writes it again from scheduled_jobs.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import Column, Engine, Float, LargeBinary, MetaData, Table, Text, Unicode, select
from sqlalchemy.exc import IntegrityError

from app.logging import context

logger = logging.getLogger("scheduler")


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
