"""Failed console sign-ins counted per client address, in this api process's memory.

Past `LIMIT` failures from one address within `WINDOW_SECONDS`, the sign-in form answers 429
until the oldest of them leaves the window. Counting in memory keeps a failed sign-in free of
database writes; with several api replicas an address may fail `LIMIT` times on each (tokens
are 256-bit random values: the limit stops noise, not a guess that cannot succeed).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from app.config import IPNetwork

LIMIT = 10
WINDOW_SECONDS = 60.0
# Addresses remembered at most; past it the quietest are forgotten first (memory stays bounded
# whatever addresses a flood comes from).
MAX_ADDRESSES = 10_000


class SignInThrottle:
    """A sliding window of failure times per address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        failures = self._recent(address)
        if failures is None or len(failures) < LIMIT:
            return None
        return max(1, math.ceil(failures[0] + WINDOW_SECONDS - self._clock()))

    def record_failure(self, address: str) -> None:
        failures = self._recent(address)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._forget_oldest()
            failures = self._failures[address] = deque(maxlen=LIMIT)
        failures.append(self._clock())

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        cutoff = self._clock() - WINDOW_SECONDS
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _forget_oldest(self) -> None:
        cutoff = self._clock() - WINDOW_SECONDS
        for address in [a for a, times in self._failures.items() if times[-1] <= cutoff]:
            del self._failures[address]
        if len(self._failures) >= MAX_ADDRESSES:
            oldest = min(self._failures, key=lambda a: self._failures[a][-1])
            del self._failures[oldest]


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: the peer's, or when the peer is a trusted proxy, the rightmost
    address of X-Forwarded-For that is not a trusted proxy (the left part is the client's
    own say and may be forged)."""
    address = peer or "unknown"
    if not trusted or not _is_trusted(address, trusted) or not forwarded_for:
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _is_trusted(hop, trusted):
            return hop if _parses(hop) else address
        address = hop
    return address


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
