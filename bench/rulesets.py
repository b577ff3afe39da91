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
