"""The compiled SQL and the Python reference evaluator agree on random trees and rows.

Trees cover every field and op; rows carry nulls, missing and wrongly typed `data` keys,
mixed-case Latin and Cyrillic text and LIKE's metacharacters `%`, `_` and `\\`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.compiler import (
    CompileContext,
    RuleToEvaluate,
    SqlParams,
    compile_condition,
    compile_deciding_rule,
    evaluation_order,
)
from app.rules.evaluator import VersionFacts, deciding_rule, evaluate
from app.rules.models import RuleBody
from bench.rulesets import FAMILIES, generated_rules
from tests.support.factories import rule_to_evaluate
from tests.support.random_rules import random_row, selective_trees

pytestmark = pytest.mark.timeout(300)

EVALUATED_AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ALPHABET = "aAbBzZ пПяЯёЁжЖ%_\\0."
texts = st.text(alphabet=ALPHABET, max_size=6)
scores = st.one_of(
    st.sampled_from([0.0, 0.3, 0.5, 0.85, 0.9, 1.0]),
    st.floats(0, 1, allow_nan=False),
)
numbers = st.one_of(
    st.sampled_from([0, 1, 2, -1, 0.5, 2.5, 1e20, 10**20]),
    st.integers(-(2**40), 2**40),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
data_values = st.one_of(st.none(), st.booleans(), numbers, texts, st.just({"x": 1}), st.just([1]))
data_keys = st.sampled_from(["name", "n", "flag", "obj"])
data_docs = st.dictionaries(
    data_keys,
    st.one_of(data_values, st.dictionaries(st.sampled_from(["k", "x"]), data_values, max_size=2)),
    max_size=4,
)

rows = st.fixed_dictionaries(
    {
        "entity_type": st.sampled_from(["topic", "atom"]),
        "entity_id": st.just("e"),
        "version": st.integers(1, 5),
        "confidence": scores,
        "similarity": st.one_of(st.none(), scores),
        "source": texts.filter(bool),
        "data": data_docs,
        "created_at": st.integers(0, 600).map(lambda m: EVALUATED_AT - dt.timedelta(minutes=m)),
    }
)

NUMERIC_OPS = ["eq", "neq", "gt", "gte", "lt", "lte"]
TEXT_OPS = ["eq", "neq", "contains", "not_contains", "starts_with", "ends_with"]


def leaf_for(field: str, values: st.SearchStrategy[Any], ops: list[str]) -> st.SearchStrategy:
    scalar = st.builds(
        lambda op, value: {"field": field, "op": op, "value": value}, st.sampled_from(ops), values
    )
    listed = st.builds(
        lambda op, value: {"field": field, "op": op, "value": value},
        st.sampled_from(["in", "not_in"]),
        st.lists(values, min_size=1, max_size=4),
    )
    nulls = st.builds(
        lambda op: {"field": field, "op": op}, st.sampled_from(["is_null", "is_not_null"])
    )
    return st.one_of(scalar, listed, nulls)


def data_leaf() -> st.SearchStrategy:
    field = st.one_of(
        data_keys.map(lambda k: f"data.{k}"),
        st.tuples(data_keys, st.sampled_from(["k", "x"])).map(lambda p: f"data.{p[0]}.{p[1]}"),
    )

    def build(name: str, kind: str, op_index: int, value: Any, listed: list[Any]) -> dict:
        ops = {"number": NUMERIC_OPS, "text": TEXT_OPS, "bool": ["eq", "neq"]}[kind]
        choice = [*ops, "in", "not_in", "is_null", "is_not_null"][op_index % (len(ops) + 4)]
        if choice in ("is_null", "is_not_null"):
            return {"field": name, "op": choice}
        if choice in ("in", "not_in"):
            return {"field": name, "op": choice, "value": listed}
        return {"field": name, "op": choice, "value": value}

    return st.one_of(
        *(
            st.builds(
                build,
                field,
                st.just(kind),
                st.integers(0, 20),
                values,
                st.lists(values, min_size=1, max_size=3),
            )
            for kind, values in (("number", numbers), ("text", texts), ("bool", st.booleans()))
        )
    )


leaves = st.one_of(
    leaf_for("confidence", scores, NUMERIC_OPS),
    leaf_for("similarity", scores, NUMERIC_OPS),
    leaf_for("version", st.integers(0, 6), NUMERIC_OPS),
    leaf_for("age_hours", st.sampled_from([0, 1, 2.5, 5, 9.99, 10]), NUMERIC_OPS),
    leaf_for("entity_type", st.sampled_from(["topic", "atom"]), ["eq", "neq"]),
    leaf_for("source", texts, TEXT_OPS),
    st.builds(
        lambda op, value: {"field": "entity_type", "op": op, "value": value},
        st.sampled_from(["contains", "not_contains", "starts_with", "ends_with"]),
        st.sampled_from(["TOP", "pic", "at", "Om", "x"]),
    ),
    data_leaf(),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=8,
)


def parse(raw: dict[str, Any]):
    body = {"name": "p", "priority": 1, "action": "approve", "conditions": raw}
    return RuleBody.model_validate(body).conditions


class SqlSession:
    """A connection on an event loop of its own, driven from synchronous hypothesis tests."""

    def __init__(self, url: str) -> None:
        self.runner = asyncio.Runner()
        self.conn: asyncpg.Connection = self.runner.run(asyncpg.connect(url))

    def load(self, versions: list[dict[str, Any]]) -> list[int]:
        async def work() -> list[int]:
            await self.conn.execute("DELETE FROM versions")
            records = await self.conn.fetch(
                "INSERT INTO versions (entity_type, entity_id, version, confidence, similarity,"
                " source, data, created_at)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[],"
                " $5::float8[], $6::text[], $7::jsonb[], $8::timestamptz[])"
                " RETURNING id",
                [v["entity_type"] for v in versions],
                [f"{v['entity_id']}{i}" for i, v in enumerate(versions)],
                [v["version"] for v in versions],
                [v["confidence"] for v in versions],
                [v["similarity"] for v in versions],
                [v["source"] for v in versions],
                [json.dumps(v["data"]) for v in versions],
                [v["created_at"] for v in versions],
            )
            return [r["id"] for r in records]

        return self.runner.run(work())

    def per_row(self, expression: str, params: list[Any]) -> dict[int, Any]:
        async def work() -> dict[int, Any]:
            # The expression comes from the compiler: allow-listed names, values bound.
            query = f"SELECT v.id, {expression} AS result FROM versions v"  # noqa: S608
            records = await self.conn.fetch(query, *params)
            return {r["id"]: r["result"] for r in records}

        return self.runner.run(work())

    def close(self) -> None:
        self.runner.run(self.conn.close())
        self.runner.close()


@pytest.fixture
def sql_session(owner_database_url: str) -> Iterator[SqlSession]:
    # The owner: each example empties `versions`, which the processes' role may not delete.
    session = SqlSession(owner_database_url)
    yield session
    session.close()


SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(raw=trees, versions=st.lists(rows, min_size=1, max_size=8))
def test_sql_and_python_agree_on_every_row(sql_session, raw, versions):
    """For each row the SQL expression is TRUE, FALSE or NULL exactly when Python says so."""
    conditions = parse(raw)
    ids = sql_session.load(versions)
    ctx = CompileContext(SqlParams(), EVALUATED_AT)
    from_sql = sql_session.per_row(compile_condition(conditions, ctx), ctx.params.values)
    for version_id, row in zip(ids, versions, strict=True):
        expected = evaluate(conditions, VersionFacts(**row), EVALUATED_AT)
        assert from_sql[version_id] is expected, (raw, row)


@SETTINGS
@given(
    raws=st.lists(st.tuples(trees, st.integers(0, 3)), min_size=1, max_size=4),
    versions=st.lists(rows, min_size=1, max_size=8),
)
def test_sql_and_python_pick_the_same_deciding_rule(sql_session, raws, versions):
    """The compiled CASE names the same first matching rule as the Python evaluator."""
    assert_same_deciding_rule(sql_session, rules_from(raws), versions, raws)


def rules_from(raws: list[tuple[dict[str, Any], int]]) -> list[RuleToEvaluate]:
    return [
        rule_to_evaluate(i + 1, parse(raw), priority=priority, name=str(i))
        for i, (raw, priority) in enumerate(raws)
    ]


def assert_same_deciding_rule(
    sql_session: SqlSession,
    rules: list[RuleToEvaluate],
    versions: list[dict[str, Any]],
    *context: object,
) -> None:
    """The compiled CASE names the Python evaluator's deciding rule for each row (a failure
    names the row after `context`)."""
    ordered = evaluation_order(rules)
    ids = sql_session.load(versions)
    ctx = CompileContext(SqlParams(), EVALUATED_AT)
    positions = sql_session.per_row(compile_deciding_rule(rules, ctx), ctx.params.values)
    for version_id, row in zip(ids, versions, strict=True):
        expected = deciding_rule(rules, VersionFacts(**row), EVALUATED_AT)
        position = positions[version_id]
        got = ordered[position - 1] if position is not None else None
        assert got == expected, (*context, row) if context else row


# Small trees, many of them: a rule set as large as a real deployment's, where shared
# derived values and reordered conjuncts have the most room to go wrong.
small_trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=3,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    raws=st.lists(st.tuples(small_trees, st.integers(0, 3)), min_size=50, max_size=200),
    versions=st.lists(rows, min_size=1, max_size=12),
)
def test_large_random_rule_sets_pick_the_same_deciding_rule(sql_session, raws, versions):
    """With 50-200 random rules the compiled CASE still names Python's first matching rule."""
    assert_same_deciding_rule(sql_session, rules_from(raws), versions)


@pytest.mark.parametrize("count", [50, 200])
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_benchmark_rule_sets_agree_with_python(sql_session, count, data):
    """The benchmark's generated rules (bench.rulesets) decide as the Python evaluator does,
    on rows built to hit their thresholds and words as well as to miss them."""
    bodies = generated_rules(count, seed=data.draw(st.integers(0, 1000)))
    rules = [
        rule_to_evaluate(
            i + 1,
            parse(body["conditions"]),
            priority=body["priority"],
            action=body["action"],
            name=body["name"],
        )
        for i, body in enumerate(bodies)
    ]
    words = [p["value"] for b in bodies for p in b["conditions"]["all"] if p["op"] == "contains"]
    names = st.one_of(texts, st.sampled_from(words).map(str.upper), st.sampled_from(words))
    hits = st.sampled_from([0.95, 0.98, 0.99, 1.0])
    near = rows.flatmap(
        lambda row: st.fixed_dictionaries(
            {"confidence": hits, "similarity": st.one_of(st.none(), hits), "name": names}
        ).map(
            lambda extra: {
                **row,
                "confidence": extra["confidence"],
                "similarity": extra["similarity"],
                "data": {**row["data"], "name": extra["name"]},
            }
        )
    )
    versions = data.draw(st.lists(st.one_of(rows, near), min_size=1, max_size=12))
    assert_same_deciding_rule(sql_session, rules, versions)


@pytest.mark.timeout(600)
@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_thousand_rules_of_random_shapes_pick_the_same_deciding_rule(sql_session, seed):
    """1,000 random rules (all/any/not nested, every op, both directions on both scores,
    shared and repeated bounds, priorities with ties; each TRUE for few rows) over 300 rows
    with null scores, scores on and beside the bounds and `data` of other types: the indexed
    statement names Python's first matching rule for every row."""
    rng = random.Random(seed)
    sample = [VersionFacts(**random_row(rng, i)) for i in range(60)]

    def share(raw: dict[str, Any]) -> float:
        tree = parse(raw)
        return sum(evaluate(tree, f, EVALUATED_AT) is True for f in sample) / len(sample)

    rules = [
        rule_to_evaluate(i + 1, parse(raw), priority=rng.randint(0, 5))
        for i, raw in enumerate(selective_trees(rng, 1_000, share))
    ]
    versions = [random_row(rng, i) for i in range(300)]
    decided = [deciding_rule(rules, VersionFacts(**row), EVALUATED_AT) for row in versions]
    # The first matches spread over the rule set, not only its head.
    assert len({rule.id for rule in decided if rule is not None}) > 30
    assert_same_deciding_rule(sql_session, rules, versions, seed)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", ["selective", "branching"])
def test_the_benchmark_families_at_a_thousand_rules_agree_with_python(sql_session, family):
    """The benchmark's selective and branching families (1,000 rules each) decide 300 rows
    with scores at and beside their bounds as the Python evaluator does."""
    bodies = FAMILIES[family](1_000)
    rules = [
        rule_to_evaluate(i + 1, parse(body["conditions"]), priority=body["priority"])
        for i, body in enumerate(bodies)
    ]
    rng = random.Random(7)
    bounds = [
        leaf["value"]
        for body in bodies
        for leaf in _leaves(body["conditions"])
        if leaf["field"] in ("confidence", "similarity") and isinstance(leaf["value"], float)
    ]
    versions = []
    for i in range(300):
        row = random_row(rng, i)
        row["confidence"] = rng.choice(bounds) if rng.random() < 0.6 else rng.random()
        if row["similarity"] is not None:
            row["similarity"] = rng.choice(bounds) if rng.random() < 0.6 else rng.random()
        row["data"]["type"] = rng.choice(["fact", "note", "draft"])
        versions.append(row)
    assert_same_deciding_rule(sql_session, rules, versions, family)


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("all", "any"):
        if key in node:
            return [leaf for child in node[key] for leaf in _leaves(child)]
    if "not" in node:
        return _leaves(node["not"])
    return [node]
