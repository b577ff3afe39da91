"""Rule trees and version rows of random shapes from a seeded generator, for the indexing's
property tests: every node kind nested, every op, both directions on both scores, scores
equal to the rules' bounds and just beside them, null scores, `data` values of other types."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from typing import Any

# Bounds rules share (0.5 twice, 1 as an int and a float): breakpoints repeat, and rows land
# on them exactly.
BOUNDS: list[float | int] = [0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 0.95, 1, 1.0]
SCORE_OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "is_null", "is_not_null"]
TEXTS = ["urgent fix", "Kickoff", "ПРИВЕТ", "a%b", "x_y", "", "roadmap 2"]
WORDS = ["urg", "kick", "при", "%", "_", "map"]
EVALUATED_AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _bound(rng: random.Random) -> float | int:
    return rng.choice(BOUNDS) if rng.random() < 0.8 else round(rng.random(), 3)


def score_leaf(rng: random.Random) -> dict[str, Any]:
    """A leaf on confidence or similarity with any op."""
    field = rng.choice(["confidence", "similarity"])
    op = rng.choice(SCORE_OPS)
    if op in ("is_null", "is_not_null"):
        return {"field": field, "op": op}
    if op in ("in", "not_in"):
        return {"field": field, "op": op, "value": [_bound(rng) for _ in range(rng.randint(1, 3))]}
    return {"field": field, "op": op, "value": _bound(rng)}


def other_leaf(rng: random.Random) -> dict[str, Any]:
    """A leaf on anything but the scores."""
    kinds = ["entity_type", "entity_type", "text", "number", "list", "flag", "null", "age"]
    kind = rng.choice(kinds)
    if kind == "entity_type":
        op = rng.choice(["eq", "neq", "in", "not_in"])
        value: Any = rng.choice(["topic", "atom"])
        leaf = {"field": "entity_type", "op": op, "value": [value] if "in" in op else value}
    elif kind == "text":
        op = rng.choice(["contains", "not_contains", "starts_with", "ends_with", "eq"])
        leaf = {"field": rng.choice(["source", "data.name"]), "op": op, "value": rng.choice(WORDS)}
    elif kind == "number":
        op = rng.choice(["eq", "neq", "gt", "gte", "lt", "lte"])
        leaf = {"field": "data.n", "op": op, "value": rng.choice([0, 1, 2.5, -1])}
    elif kind == "list":
        values = rng.choice([["1", "x"], [1, 2.5], [True]])
        leaf = {"field": "data.n", "op": rng.choice(["in", "not_in"]), "value": values}
    elif kind == "flag":
        leaf = {"field": "data.flag", "op": rng.choice(["eq", "neq"]), "value": rng.random() < 0.5}
    elif kind == "null":
        leaf = {"field": rng.choice(["data.n", "data.name"]), "op": "is_null"}
    else:
        leaf = {"field": "age_hours", "op": rng.choice(["gt", "lte"]), "value": rng.choice([1, 5])}
    return leaf


def random_tree(rng: random.Random, depth: int = 3) -> dict[str, Any]:
    """A condition tree (JSON form) up to `depth` levels of all/any/not over random leaves."""
    if depth == 0 or rng.random() < 0.35:
        return score_leaf(rng) if rng.random() < 0.65 else other_leaf(rng)
    kind = rng.choice(["all", "all", "any", "not"])
    if kind == "not":
        return {"not": random_tree(rng, depth - 1)}
    return {kind: [random_tree(rng, depth - 1) for _ in range(rng.randint(1, 3))]}


def random_score(rng: random.Random) -> float:
    """A score on a bound, just beside one, or anywhere in 0..1."""
    choice = rng.random()
    bound = float(rng.choice(BOUNDS))
    if choice < 0.4:
        return bound
    if choice < 0.7:
        beside = math.nextafter(bound, 2.0 if rng.random() < 0.5 else -1.0)
        return min(1.0, max(0.0, beside))
    return rng.random()


def random_row(rng: random.Random, index: int) -> dict[str, Any]:
    """A version row as tests/integration's SqlSession.load takes it."""
    data: dict[str, Any] = {}
    if rng.random() < 0.8:
        data["name"] = rng.choice(TEXTS)
    if rng.random() < 0.8:
        data["n"] = rng.choice([0, 1, 2.5, -1, "1", True, None, [1]])
    if rng.random() < 0.5:
        data["flag"] = rng.choice([True, False, "true", 0])
    return {
        "entity_type": rng.choice(["topic", "atom"]),
        "entity_id": f"r{index}-",
        "version": 1,
        "confidence": random_score(rng),
        "similarity": None if rng.random() < 0.25 else random_score(rng),
        "source": rng.choice(["llm", "editor", "Urgent LLM", "x_y"]),
        "data": data,
        "created_at": EVALUATED_AT - dt.timedelta(minutes=rng.randint(0, 600)),
    }


def selective_trees(
    rng: random.Random, count: int, accept: Callable[[dict[str, Any]], float]
) -> list[dict[str, Any]]:
    """`count` random trees that `accept` (the share of sample rows a tree is TRUE for) finds
    at most 3%: random shapes that match rarely, so the first matching rule of a row is
    anywhere among a thousand, not always one of the first few."""
    trees: list[dict[str, Any]] = []
    while len(trees) < count:
        tree = {"all": [random_tree(rng, 2) for _ in range(rng.randint(1, 3))]}
        if accept(tree) <= 0.03:
            trees.append(tree)
    return trees
