"""The worker's side of a run: claim it, evaluate the pending versions in id-ordered batches,
finish it. Each batch is one transaction of two statements: the first picks every version's
deciding rule with the compiled SQL, decides and writes the audit rows (sealed at its end);
the second adds the batch's counts to the run's row.

The row is the truth, a message only a wake-up call. A claim is a lease of a new epoch:
the worker's heartbeat keeps it, judged by the database's clock, and every write of the
worker names the epoch it claimed, so a superseded worker writes nothing more. At most one
non-dry run is EXECUTING (a unique index); a non-dry run whose turn has not come is parked
in the database (SCHEDULED, no message) instead of waiting in a consumer slot, and woken
when the active run ends or by a reaper. Every worker's reaper republishes what lost its
message (SCHEDULED past AUTOMATION_REDELIVER_SECONDS, EXECUTING whose worker stopped
beating), ends the sessions of stale runs and fails `lost` those out of attempts.

The guard: one deadline over the whole evaluation, enforced by asyncio and, as a safety
net a little later, by a statement_timeout on each batch; whichever fires, the run ends
`timeout`.

Shards (SPEC 6.3): a run with more than AUTOMATION_SHARD_MIN_VERSIONS pending at its first
claim is split into AUTOMATION_SHARDS id ranges, each a row and a message of its own. A shard
is held by the run's own lease mechanism (one set of statements over both kinds of row:
automation.sql, "Leases"; `Lease.shard` says which row), its batches add to the run's
counters within the run's cap, it stops on the run's cancel and at the run's one deadline,
and the shard that ends last (or the first that fails) ends the run.

The parts: base (the lease, the executor's state), run (claim, guard, conclude), batch_loop
(the batches, the scope, the split), reaper, log_lines (the run's log lines).
"""

from __future__ import annotations

from app.automation.executor.base import (
    GUARD_SLACK_SECONDS,
    Lease,
    LostOwnershipError,
    Outcome,
    worker_identity,
)
from app.automation.executor.run import RunExecutor

__all__ = [
    "GUARD_SLACK_SECONDS",
    "Lease",
    "LostOwnershipError",
    "Outcome",
    "RunExecutor",
    "worker_identity",
]
