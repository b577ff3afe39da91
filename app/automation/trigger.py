"""Triggers write the run row first and publish after commit: manual ones (coalescing,
idempotency keys) and cron ticks (one run per job and tick, queued behind an active run)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from app.automation.publisher import RunPublisher, publish_run
from app.db import Connection, Pool, transaction
from app.errors import ConflictError, InvalidInputError
from app.logging import context
from app.models import Run, RunState, TriggerAnswer, TriggerRequest
from app.repositories import audit
from app.repositories import brake as brake_repo
from app.repositories import idempotency_keys as key_repo
from app.repositories import jobs as job_repo
from app.repositories import runs as run_repo

logger = logging.getLogger("automation")

IDEMPOTENCY_KEY_MAX = 200


def _request_hash(request: TriggerRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _create_or_coalesce(
    conn: Connection, request: TriggerRequest, job_id: str | None
) -> tuple[Run, bool]:
    # A few rounds cover the moment when the active run ends between the two statements.
    for _ in range(5):
        created = await run_repo.create_manual_run(
            conn, dry_run=request.dry_run, reason=request.reason, job_id=job_id
        )
        if created is not None:
            return created, False
        active = await run_repo.get_active_run(conn)
        if active is not None:
            return active, True
    raise ConflictError("the trigger kept racing with other runs; try again")


async def _replay(
    conn: Connection, token_name: str, idempotency_key: str, request_hash: str
) -> TriggerAnswer | None:
    """The answer a request with this key had (None: the key is new), the key locked until
    the transaction ends; InvalidInputError when it came with another body."""
    await key_repo.lock_idempotency_key(conn, token_name, idempotency_key)
    seen = await key_repo.get_idempotency_key(conn, token_name, idempotency_key)
    if seen is None:
        return None
    if seen["request_hash"] != request_hash:
        raise InvalidInputError(
            "this Idempotency-Key was used with a different body",
            loc=("header", "Idempotency-Key"),
        )
    replayed = await run_repo.get_run(conn, seen["run_id"])
    return _answer(replayed, coalesced=seen["coalesced"])


async def trigger_run(
    pool: Pool,
    publisher: RunPublisher,
    request: TriggerRequest,
    *,
    actor: str,
    token_name: str,
    idempotency_key: str | None = None,
    job_id: str | None = None,
) -> TriggerAnswer:
    """Create a manual run (or return the active one it coalesces into) and publish it.

    With `job_id` the run is a job's "run now": a manual run shown in the job's history."""
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise InvalidInputError(
            f"Idempotency-Key is 1-{IDEMPOTENCY_KEY_MAX} characters",
            loc=("header", "Idempotency-Key"),
        )
    request_hash = _request_hash(request)
    async with transaction(pool) as conn:
        if idempotency_key is not None:
            replayed = await _replay(conn, token_name, idempotency_key, request_hash)
            if replayed is not None:
                return replayed
        brake = await brake_repo.lock_automation_state_shared(conn)
        if brake.paused:
            raise ConflictError(
                f"automation is paused (since {brake.changed_at:%Y-%m-%d %H:%M:%S}Z by "
                f"{brake.changed_by}); POST /api/v1/automation/resume to release the brake"
            )
        run, coalesced = await _create_or_coalesce(conn, request, job_id)
        if not coalesced:
            details = {"dry_run": run.dry_run, "reason": run.reason, "trigger": "manual"}
            await audit.insert_audit_entry(
                conn,
                actor=actor,
                action="run.trigger",
                run_id=run.id,
                details=details if job_id is None else {**details, "job_id": job_id},
            )
        if idempotency_key is not None:
            await key_repo.save_idempotency_key(
                conn,
                token_name=token_name,
                key=idempotency_key,
                request_hash=request_hash,
                run_id=run.id,
                coalesced=coalesced,
            )
    if coalesced:
        logger.info("Trigger coalesced into the active run", extra=context(run=run.id))
        return _answer(run, coalesced=True)
    state = RunState.SCHEDULED if await publish_run(pool, publisher, run.id) else run.state
    return _answer(run, coalesced=False, state=state)


def _answer(run: Run, *, coalesced: bool, state: RunState | None = None) -> TriggerAnswer:
    return TriggerAnswer(
        run_id=run.id,
        state=state or run.state,
        trigger=run.trigger,
        dry_run=run.dry_run,
        coalesced=coalesced,
    )


async def trigger_cron_run(
    pool: Pool, publisher: RunPublisher, job_id: str, scheduled_for: dt.datetime
) -> Run | None:
    """The run of one tick of a job, published; None when the tick already has its run (two
    schedulers believed they led: the unique (job, tick) row lets one of them through)."""
    async with transaction(pool) as conn:
        run = await job_repo.create_cron_run(conn, job_id, scheduled_for)
        if run is None:
            return None
        await audit.insert_audit_entry(
            conn,
            actor="system",
            action="run.trigger",
            run_id=run.id,
            details={
                "trigger": "cron",
                "job_id": job_id,
                "scheduled_for": scheduled_for.isoformat(),
                "paused": run.state is RunState.FAILED,
            },
        )
    if run.state is RunState.FAILED:
        logger.warning(
            "Tick recorded FAILED: automation is paused", extra=context(run=run.id, job=job_id)
        )
        return run
    await publish_run(pool, publisher, run.id)
    return run
