"""The service's fixed vocabularies: version, run and job states, roles, triggers."""

from __future__ import annotations

import enum


class VersionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"


class EntityType(enum.StrEnum):
    TOPIC = "topic"
    ATOM = "atom"


class Role(enum.StrEnum):
    """Roles grow: an operator may do what a viewer does, an admin what an operator does."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


class RunState(enum.StrEnum):
    PENDING = "PENDING"  # stored, not yet confirmed by RabbitMQ
    SCHEDULED = "SCHEDULED"  # published and confirmed, waiting for a worker
    EXECUTING = "EXECUTING"  # claimed by a worker that beats while it works
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (RunState.COMPLETED, RunState.FAILED)


class RunTrigger(enum.StrEnum):
    CRON = "cron"
    MANUAL = "manual"


class JobState(enum.StrEnum):
    """A scheduled job's state (SPEC section 4). The first four are stored; EXECUTING,
    COMPLETED and FAILED are read from the job's runs."""

    PENDING = "PENDING"  # defined, not yet registered by the scheduler
    SCHEDULED = "SCHEDULED"  # registered with a next run, no run yet
    PAUSED = "PAUSED"  # enabled false, no next run
    EXECUTING = "EXECUTING"  # one of its runs is not finished yet
    COMPLETED = "COMPLETED"  # its last run completed; waiting for the next tick
    FAILED = "FAILED"  # its last run failed; waiting for the next tick
    REMOVED = "REMOVED"  # deleted from the schedule; row and history kept


class JobTask(enum.StrEnum):
    AUTOMATION_RUN = "automation.run"
