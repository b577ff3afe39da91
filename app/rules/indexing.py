"""Predicate indexing: each version is tested only against the rules that can match it.

For every rule a *cover* is derived from its tree: score intervals such that "the rule is
TRUE" implies "the version's score lies in one of them". A cover may be larger than the set
of rows the rule matches (that only costs time), never smaller (that would lose a match).
Per score, an interval tree over the covers' end points becomes nested
`CASE WHEN v.x < $bound THEN <left> ELSE <right> END`; a rule sits once, at the highest node
whose split its interval straddles, so only rows whose score lies near its interval reach it.
Every part answers the least position of a TRUE rule among its own rules (or NULL), so
`LEAST` over the parts is the first matching rule in evaluation order, as one CASE would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from app.rules.models import AllOf, AnyOf, Condition, Leaf, Not, Op

DIMENSIONS = ("confidence", "similarity")
# More intervals than this on one score (a long `in` list) are replaced by their hull: still a
# cover, and the tree keeps a bounded number of end points per rule.
MAX_INTERVALS = 8
SPREAD = 1
# An `in` value's share of the scores' range, for ranking covers (a point is narrow, not empty).
_POINT_WIDTH = 0.001


@dataclass(frozen=True, order=True)
class Cut:
    """A point between two runs of scores: `side` 0 splits just below `value` (the test is
    `x < value`), `side` 1 just above it (`x <= value`)."""

    value: float
    side: int

    def goes_left(self) -> str:
        return "<" if self.side == 0 else "<="


@dataclass(frozen=True)
class Interval:
    """Scores from `low` to `high` (None: unbounded), each end inside or outside."""

    low: float | None = None
    low_closed: bool = True
    high: float | None = None
    high_closed: bool = True

    @property
    def low_cut(self) -> Cut | None:
        if self.low is None:
            return None
        return Cut(self.low, 0 if self.low_closed else 1)

    @property
    def high_cut(self) -> Cut | None:
        if self.high is None:
            return None
        return Cut(self.high, 1 if self.high_closed else 0)

    def is_empty(self) -> bool:
        low, high = self.low_cut, self.high_cut
        return low is not None and high is not None and high <= low

    def width(self) -> float:
        """Its share of 0..1 (scores are 0..1): for ranking covers only."""
        low = 0.0 if self.low is None else max(0.0, self.low)
        high = 1.0 if self.high is None else min(1.0, self.high)
        return max(high - low, _POINT_WIDTH) if not self.is_empty() else 0.0

    def intersect(self, other: Interval) -> Interval:
        low = max((self, other), key=lambda i: _low_key(i.low_cut))
        high = min((self, other), key=lambda i: _high_key(i.high_cut))
        return Interval(low.low, low.low_closed, high.high, high.high_closed)


def _low_key(cut: Cut | None) -> tuple[float, int]:
    return (float("-inf"), 0) if cut is None else (cut.value, cut.side)


def _high_key(cut: Cut | None) -> tuple[float, int]:
    return (float("inf"), 0) if cut is None else (cut.value, cut.side)


# A cover: score -> intervals. None: nothing is known (the rule may hold anywhere, or on a
# NULL score); {} : the rule can never be TRUE.
Cover = dict[str, list[Interval]] | None

_TRUE_INTERVAL: dict[Op, Callable[[float], Interval]] = {
    Op.GT: lambda c: Interval(low=c, low_closed=False),
    Op.GTE: lambda c: Interval(low=c),
    Op.LT: lambda c: Interval(high=c, high_closed=False),
    Op.LTE: lambda c: Interval(high=c),
    Op.EQ: lambda c: Interval(c, True, c, True),
}
# A comparison is FALSE only for a non-null score on the other side of its value.
_FALSE_INTERVAL: dict[Op, Callable[[float], Interval]] = {
    Op.GT: _TRUE_INTERVAL[Op.LTE],
    Op.GTE: _TRUE_INTERVAL[Op.LT],
    Op.LT: _TRUE_INTERVAL[Op.GTE],
    Op.LTE: _TRUE_INTERVAL[Op.GT],
    Op.NEQ: _TRUE_INTERVAL[Op.EQ],
}


def _leaf_cover(leaf: Leaf, truth: bool) -> Cover:
    if leaf.field not in DIMENSIONS:
        return None
    value = leaf.value
    listed = (leaf.op is Op.IN) if truth else (leaf.op is Op.NOT_IN)
    if listed and isinstance(value, list):
        points = sorted({float(item) for item in value if not isinstance(item, str | bool)})
        return {leaf.field: [Interval(p, True, p, True) for p in points]}
    interval = (_TRUE_INTERVAL if truth else _FALSE_INTERVAL).get(leaf.op)
    if interval is None or isinstance(value, list | str | bool) or value is None:
        return None
    return {leaf.field: [interval(float(value))]}


def cover_width(cover: Cover) -> float:
    """How much of the scores' range a cover lets through (1.0 and more: no better than none)."""
    if cover is None:
        return float("inf")
    return sum(i.width() for intervals in cover.values() for i in intervals)


def _union(covers: Iterable[Cover]) -> Cover:
    merged: dict[str, list[Interval]] = {}
    for cover in covers:
        if cover is None:
            return None
        for dimension, intervals in cover.items():
            merged.setdefault(dimension, []).extend(intervals)
    return merged


def _narrowest(covers: Sequence[Cover]) -> Cover:
    """Of covers that must all hold, the narrowest; single intervals on one score are
    intersected first (`0.6 <= x` and `x < 0.7` give [0.6, 0.7))."""
    candidates = list(covers)
    for dimension in DIMENSIONS:
        single = [
            c[dimension][0]
            for c in covers
            if c is not None and list(c) == [dimension] and len(c[dimension]) == 1
        ]
        if len(single) > 1:
            both = single[0]
            for interval in single[1:]:
                both = both.intersect(interval)
            candidates.append({} if both.is_empty() else {dimension: [both]})
    return min(candidates, key=cover_width)


def cover(node: Condition, truth: bool = True) -> Cover:
    """Score intervals at least one of which holds wherever `node` is `truth` (TRUE, or with
    `truth=False`, FALSE): three-valued, so NOT TRUE is FALSE, never unknown."""
    match node:
        case Leaf():
            return _leaf_cover(node, truth)
        case Not():
            return cover(node.negated, not truth)
        case AllOf():
            parts = [cover(child, truth) for child in node.all_of]
            # All TRUE: any one child's cover will do. FALSE: one child is FALSE, any of them.
            return _narrowest(parts) if truth else _union(parts)
        case AnyOf():
            parts = [cover(child, truth) for child in node.any_of]
            return _union(parts) if truth else _narrowest(parts)
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the union is closed


def _bounded(intervals: list[Interval]) -> list[Interval]:
    intervals = [i for i in intervals if not i.is_empty()]
    if len(intervals) <= MAX_INTERVALS:
        return intervals
    low = min(intervals, key=lambda i: _low_key(i.low_cut))
    high = max(intervals, key=lambda i: _high_key(i.high_cut))
    return [Interval(low.low, low.low_closed, high.high, high.high_closed)]


@dataclass
class ScoreIndex:
    """The rules indexed on one score: (position, interval) pairs."""

    column: str
    entries: list[tuple[int, Interval]] = field(default_factory=list)


@dataclass
class Partition:
    """Where each rule (by 1-based position) is tested: in score indexes, or in the residual."""

    indexes: dict[str, ScoreIndex]
    residual: list[int]


def partition(conditions: Sequence[Condition]) -> Partition:
    """Rules in evaluation order, split into score indexes (by their covers) and the residual
    (rules without a useful cover). A rule that can never be TRUE is left out."""
    indexes = {d: ScoreIndex(f"v.{d}") for d in DIMENSIONS}
    residual: list[int] = []
    for position, conditions_of_rule in enumerate(conditions, start=1):
        found = cover(conditions_of_rule)
        if found is None or cover_width(found) >= 1.0:
            residual.append(position)
            continue
        for dimension, intervals in found.items():
            for interval in _bounded(intervals):
                indexes[dimension].entries.append((position, interval))
    return Partition({d: i for d, i in indexes.items() if i.entries}, residual)


class _IntervalTree:
    """Segments between sorted cuts; node (lo, hi) spans segments lo..hi, segment k lying
    above cut k-1 and below cut k, and splits at cut (lo + hi) // 2. A rule is stored once,
    at the highest node whose split its interval straddles (or at the leaf it fits in): rows
    reaching that node are the only ones that can lie in the interval. (A segment tree, which
    stores a rule at every node its interval covers, tests fewer rules per row but copies each
    rule into O(log n) nodes; the statement is planned anew for each batch, and its size cost
    more than the tests it saved.)"""

    def __init__(self, entries: list[tuple[int, Interval]]) -> None:
        cuts = {c for _, i in entries for c in (i.low_cut, i.high_cut) if c is not None}
        self.cuts = sorted(cuts)
        index = {cut: k for k, cut in enumerate(self.cuts)}
        self.rules: dict[tuple[int, int], set[int]] = {}
        self.occupied: set[tuple[int, int]] = set()  # nodes with rules at or below them
        for position, interval in entries:
            low, high = interval.low_cut, interval.high_cut
            first = 0 if low is None else index[low] + 1
            last = len(self.cuts) if high is None else index[high]
            self._insert(0, len(self.cuts), (first, last), position, SPREAD)

    def _insert(self, lo: int, hi: int, span: tuple[int, int], position: int, spread: int) -> None:
        first, last = max(span[0], lo), min(span[1], hi)
        self.occupied.add((lo, hi))
        mid = (lo + hi) // 2
        straddles = first <= mid < last
        if lo == hi or (first == lo and last == hi) or (straddles and spread == 0):
            self.rules.setdefault((lo, hi), set()).add(position)
            return
        if first <= mid:
            self._insert(lo, mid, (first, last), position, spread - straddles)
        if mid < last:
            self._insert(mid + 1, hi, (first, last), position, spread - straddles)

    def sql(
        self, column: str, rule_sql: Callable[[int], str], bound: Callable[[float], str]
    ) -> str:
        return self._node(0, len(self.cuts), column, rule_sql, bound) or "NULL::int4"

    def _node(
        self,
        lo: int,
        hi: int,
        column: str,
        rule_sql: Callable[[int], str],
        bound: Callable[[float], str],
    ) -> str | None:
        if (lo, hi) not in self.occupied:
            return None
        parts = []
        own = sorted(self.rules.get((lo, hi), ()))
        if own:
            parts.append(first_true(own, rule_sql))
        if lo < hi:
            mid = (lo + hi) // 2
            left = self._node(lo, mid, column, rule_sql, bound)
            right = self._node(mid + 1, hi, column, rule_sql, bound)
            if left is not None or right is not None:
                cut = self.cuts[mid]
                test = f"{column} {cut.goes_left()} {bound(cut.value)}"
                otherwise = "" if right is None else f" ELSE {right}"
                parts.append(f"(CASE WHEN {test} THEN {left or 'NULL'}{otherwise} END)")
        return parts[0] if len(parts) == 1 else f"LEAST({', '.join(parts)})"


def first_true(positions: Sequence[int], rule_sql: Callable[[int], str]) -> str:
    """A CASE answering the first of `positions` (ascending) whose rule is TRUE, else NULL."""
    branches = " ".join(f"WHEN {rule_sql(p)} THEN {p}" for p in positions)
    return f"(CASE {branches} END)"


def index_sql(
    index: ScoreIndex, rule_sql: Callable[[int], str], bound: Callable[[float], str]
) -> str:
    """One score's segment tree as SQL: the least position of a TRUE rule among its rules.
    A NULL score reaches none of them (no rule with a cover on it can be TRUE there), and is
    kept out explicitly: `NULL < bound` would take the ELSE branch."""
    tree = _IntervalTree(index.entries).sql(index.column, rule_sql, bound)
    return f"(CASE WHEN {index.column} IS NOT NULL THEN {tree} END)"
