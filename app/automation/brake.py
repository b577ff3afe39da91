"""The safety brake: pause everything with one call, resume, cancel one run. All audited."""

from __future__ import annotations

import logging
import uuid

from app.db import Pool, transaction
from app.errors import ConflictError
from app.logging import context
from app.models import AutomationState, Run, RunState
from app.repositories import audit
from app.repositories import brake as brake_repo
from app.repositories import runs as run_repo

logger = logging.getLogger("automation")


async def pause_automation(pool: Pool, actor: str, reason: str | None) -> AutomationState:
    """Engage the brake: triggers are refused, cron ticks recorded FAILED `paused`, and every
    unfinished run stops (at once if it waits, at its next batch if it evaluates)."""
    async with transaction(pool) as conn:
        state, changed = await brake_repo.set_automation_paused(
            conn, paused=True, actor=actor, reason=reason
        )
        # The locks in a batch's order (the audit chain's head, then the runs); a trigger
        # takes the brake's row before the head, so the brake's row comes first here.
        await audit.lock_chain(conn)
        stopped = await brake_repo.stop_active_runs(conn, "paused")
        if changed or stopped:
            await audit.insert_audit_entry(
                conn,
                actor=actor,
                action="automation.pause",
                details={"reason": reason, "stopped_runs": [str(run) for run in stopped]},
            )
    logger.warning(
        "Automation paused", extra=context(by=actor, stopped_runs=len(stopped), reason=reason)
    )
    return state


async def resume_automation(pool: Pool, actor: str, reason: str | None) -> AutomationState:
    async with transaction(pool) as conn:
        state, changed = await brake_repo.set_automation_paused(
            conn, paused=False, actor=actor, reason=reason
        )
        if changed:
            await audit.insert_audit_entry(
                conn, actor=actor, action="automation.resume", details={"reason": reason}
            )
    logger.info("Automation resumed", extra=context(by=actor))
    return state


async def cancel_run(pool: Pool, run_id: uuid.UUID, actor: str) -> Run:
    """Stop a run: one still waiting fails `cancelled` now; one evaluating stops at its next
    batch, keeping what it committed. 409 for a finished run."""
    async with transaction(pool) as conn:
        await audit.lock_chain(conn)  # before the run's row, as a batch takes them
        run = await brake_repo.cancel_run(conn, run_id)
        if run is None:
            existing = await run_repo.get_run(conn, run_id)  # 404 when unknown
            raise ConflictError(f"run {run_id} is already {existing.state.value}")
        await audit.insert_audit_entry(
            conn,
            actor=actor,
            action="run.cancel",
            run_id=run_id,
            details={"state": run.state.value},
        )
    if run.state is RunState.EXECUTING:
        logger.info("Run stops at its next batch", extra=context(run=run_id, by=actor))
    else:
        logger.info("Run cancelled", extra=context(run=run_id, by=actor))
    return run
