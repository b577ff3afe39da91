"""R rules generated reproducibly from a seed, for measuring how a run scales with rule count.

Each rule has a threshold of its own on confidence and on similarity, and either an
`entity_type` test or a `contains` on `data.name` with a word of its own. The thresholds sit
high (confidence and similarity both above about 0.97) and the words are rare or absent, so
most rules match few versions and most versions pass through most rules: the CASE's worst
case, which is what the benchmark means to measure.
"""

from __future__ import annotations

import random
from typing import Any

ACTIONS = ("approve", "reject", "escalate")
# Words that bench.dataset puts in `data.name` rarely or never; the rule index makes each
# rule's word its own ("kickoff-17"), so a `contains` matches nothing the data set makes.
_STEMS = ("kickoff", "roadmap", "urgent", "retro", "budget", "outage", "hiring", "audit")


def generated_rules(count: int, seed: int = 15) -> list[dict[str, Any]]:
    """`count` rule bodies (name, priority, action, conditions) as the rules API takes them;
    the same `count` and `seed` always give the same list."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    rules: list[dict[str, Any]] = []
    for index in range(count):
        confidence = round(rng.uniform(0.97, 0.999), 4)
        similarity = round(rng.uniform(0.97, 0.999), 4)
        if rng.random() < 0.5:
            third: dict[str, Any] = {
                "field": "entity_type",
                "op": "eq",
                "value": rng.choice(("topic", "atom")),
            }
        else:
            word = f"{rng.choice(_STEMS)}-{index}"
            third = {"field": "data.name", "op": "contains", "value": word}
        # The text test first, as a rule author might write it: the compiler must reorder.
        conditions = {
            "all": [
                third,
                {"field": "confidence", "op": "gte", "value": confidence},
                {"field": "similarity", "op": "gte", "value": similarity},
            ]
        }
        rules.append(
            {
                "name": f"Generated {index + 1}",
                "priority": rng.randint(1, 100),
                "action": rng.choice(ACTIONS),
                "conditions": conditions,
            }
        )
    return rules


# Where a selective range sits: the data set's scores are Beta(5, 2) and Beta(4, 2), so a
# range of width 0.01-0.04 holds about one to six per cent of versions.
def _score_range(rng: random.Random, field: str) -> list[dict[str, Any]]:
    """A selective range on `field`, in one of three spellings: `>=` near the top, `<=` near
    the bottom, or between two bounds anywhere."""
    width = round(rng.uniform(0.01, 0.04), 4)
    shape = rng.choice(("above", "below", "between"))
    if shape == "above":
        return [{"field": field, "op": rng.choice(("gte", "gt")), "value": round(1 - width, 4)}]
    if shape == "below":
        return [{"field": field, "op": rng.choice(("lte", "lt")), "value": round(width * 6, 4)}]
    low = round(rng.uniform(0.2, 0.95), 4)
    return [
        {"field": field, "op": "gte", "value": low},
        {"field": field, "op": "lt", "value": round(min(1.0, low + width), 4)},
    ]


def selective_rules(count: int, seed: int = 16) -> list[dict[str, Any]]:
    """`count` rules that each hold a selective score range (either direction, on either
    score) beside a looser test of the other score and an entity_type or text test, in a
    random written order: a guard hoisted over consecutive rules helps them little."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    rules: list[dict[str, Any]] = []
    for index in range(count):
        tight, loose = rng.sample(["confidence", "similarity"], 2)
        looser = {"field": loose, "op": rng.choice(("gte", "lte")), "value": rng.choice((0.3, 0.8))}
        if rng.random() < 0.5:
            third: dict[str, Any] = {
                "field": "entity_type",
                "op": "eq",
                "value": rng.choice(("topic", "atom")),
            }
        else:
            third = {"field": "data.name", "op": "contains", "value": rng.choice(_STEMS)}
        parts = [*_score_range(rng, tight), looser, third]
        rng.shuffle(parts)
        rules.append(_body(rng, index, {"all": parts}))
    return rules


_TYPES = ("fact", "note", "draft", "summary", "memo")


def branching_rules(count: int, seed: int = 17) -> list[dict[str, Any]]:
    """`count` rules of other shapes: `any` of two branches (a range on each score), a range
    written as `not` of an `any`, `in` lists and `not_in` on data and source, `starts_with`
    on a data field; random written order."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    rules: list[dict[str, Any]] = []
    for index in range(count):
        kind = rng.randrange(3)
        if kind == 0:  # either score in its own narrow range
            first, second = rng.sample(["confidence", "similarity"], 2)
            scores: dict[str, Any] = {
                "any": [{"all": _score_range(rng, first)}, {"all": _score_range(rng, second)}]
            }
        elif kind == 1:  # outside neither bound: low <= confidence <= high, spelt with `not`
            low = round(rng.uniform(0.2, 0.95), 4)
            high = round(low + rng.uniform(0.01, 0.03), 4)
            field = rng.choice(["confidence", "similarity"])
            scores = {
                "not": {
                    "any": [
                        {"field": field, "op": "lt", "value": low},
                        {"field": field, "op": "gt", "value": high},
                    ]
                }
            }
        else:  # a list of exact scores or a range, and a list of sources
            scores = {
                "all": [
                    *_score_range(rng, rng.choice(["confidence", "similarity"])),
                    {
                        "field": "source",
                        "op": "in",
                        "value": rng.sample(["llm", "editor", "import"], 2),
                    },
                ]
            }
        tests = [
            scores,
            {"not": {"field": "data.type", "op": "in", "value": rng.sample(_TYPES, 2)}},
            {"field": "data.name", "op": "starts_with", "value": rng.choice(_STEMS)},
        ]
        rng.shuffle(tests)
        rules.append(_body(rng, index, {"all": tests}))
    return rules


def _body(rng: random.Random, index: int, conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"Generated {index + 1}",
        "priority": rng.randint(1, 100),
        "action": rng.choice(ACTIONS),
        "conditions": conditions,
    }


# Rule families by name, for the benchmark's `--rule-family` and `--rule-costs`.
FAMILIES = {
    "guarded": generated_rules,
    "selective": selective_rules,
    "branching": branching_rules,
}
