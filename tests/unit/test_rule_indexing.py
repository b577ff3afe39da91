"""Covers never under-approximate: wherever a tree is TRUE (or FALSE), a score lies in one of
its cover's intervals; and the tree of CASEs places each rule where its interval lies."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules.evaluator import VersionFacts, evaluate
from app.rules.indexing import Cover, Interval, cover, partition
from tests.support.factories import CONDITION
from tests.support.random_rules import EVALUATED_AT, random_row, random_tree

pytestmark = pytest.mark.timeout(120)


def _inside(interval: Interval, score: float) -> bool:
    if interval.low is not None and (
        score < interval.low or (score == interval.low and not interval.low_closed)
    ):
        return False
    return interval.high is None or not (
        score > interval.high or (score == interval.high and not interval.high_closed)
    )


def _held(found: Cover, row: dict[str, Any]) -> bool:
    if found is None:
        return True
    return any(
        row[dimension] is not None and _inside(interval, row[dimension])
        for dimension, intervals in found.items()
        for interval in intervals
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_tree_true_or_false_lies_inside_its_cover(seed: int) -> None:
    """For random trees and rows (null scores, scores on and beside the bounds), a TRUE tree
    has a score inside its TRUE cover and a FALSE tree one inside its FALSE cover."""
    rng = random.Random(seed)
    trees = [CONDITION.validate_python(random_tree(rng)) for _ in range(40)]
    rows = [random_row(rng, i) for i in range(40)]
    for tree in trees:
        when_true, when_false = cover(tree), cover(tree, truth=False)
        for row in rows:
            outcome = evaluate(tree, VersionFacts(**row), EVALUATED_AT)
            if outcome is True:
                assert _held(when_true, row), (tree, row, when_true)
            elif outcome is False:
                assert _held(when_false, row), (tree, row, when_false)


def _cover_of(raw: dict[str, Any], truth: bool = True) -> Cover:
    return cover(CONDITION.validate_python(raw), truth)


def test_not_of_any_is_every_branch_false() -> None:
    """not(conf < 0.2 or conf > 0.3) is TRUE only for a non-null confidence in [0.2, 0.3]."""
    found = _cover_of(
        {
            "not": {
                "any": [
                    {"field": "confidence", "op": "lt", "value": 0.2},
                    {"field": "confidence", "op": "gt", "value": 0.3},
                ]
            }
        }
    )
    assert found == {"confidence": [Interval(0.2, True, 0.3, True)]}


def test_not_of_all_is_one_branch_false() -> None:
    """not(conf >= 0.9 and sim >= 0.8): conf < 0.9 or sim < 0.8, on two scores."""
    found = _cover_of(
        {
            "not": {
                "all": [
                    {"field": "confidence", "op": "gte", "value": 0.9},
                    {"field": "similarity", "op": "gte", "value": 0.8},
                ]
            }
        }
    )
    assert found == {
        "confidence": [Interval(high=0.9, high_closed=False)],
        "similarity": [Interval(high=0.8, high_closed=False)],
    }


def test_null_tests_and_unknowns_give_no_cover() -> None:
    """is_null, not(is_not_null), neq, not_in and an `any` with an unindexed branch say
    nothing about where a rule holds."""
    assert _cover_of({"field": "similarity", "op": "is_null"}) is None
    assert _cover_of({"not": {"field": "similarity", "op": "is_not_null"}}) is None
    assert _cover_of({"field": "confidence", "op": "neq", "value": 0.5}) is None
    assert _cover_of({"field": "confidence", "op": "not_in", "value": [0.5]}) is None
    branches = [
        {"field": "confidence", "op": "gte", "value": 0.9},
        {"field": "source", "op": "eq", "value": "llm"},
    ]
    assert _cover_of({"any": branches}) is None


def test_not_of_neq_and_not_in_are_points() -> None:
    assert _cover_of({"not": {"field": "confidence", "op": "neq", "value": 0.5}}) == {
        "confidence": [Interval(0.5, True, 0.5, True)]
    }
    assert _cover_of({"not": {"field": "similarity", "op": "not_in", "value": [1, 0.5]}}) == {
        "similarity": [Interval(0.5, True, 0.5, True), Interval(1.0, True, 1.0, True)]
    }


def test_all_takes_its_narrowest_part_and_intersects_ranges() -> None:
    found = _cover_of(
        {
            "all": [
                {"field": "similarity", "op": "gte", "value": 0.3},
                {"field": "confidence", "op": "gte", "value": 0.6},
                {"field": "confidence", "op": "lt", "value": 0.7},
                {"field": "source", "op": "eq", "value": "llm"},
            ]
        }
    )
    assert found == {"confidence": [Interval(0.6, True, 0.7, False)]}


def test_a_rule_that_can_never_be_true_is_left_out() -> None:
    never = CONDITION.validate_python(
        {
            "all": [
                {"field": "confidence", "op": "gt", "value": 0.5},
                {"field": "confidence", "op": "lte", "value": 0.5},
            ]
        }
    )
    anywhere = CONDITION.validate_python({"field": "source", "op": "eq", "value": "llm"})
    split = partition([never, anywhere])
    assert split.indexes == {} and split.residual == [2]
