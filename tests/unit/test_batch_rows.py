"""How many versions a run's batch holds: AUTOMATION_BATCH_SIZE, more for a large rule set."""

from __future__ import annotations

import pytest

from app.repositories.batches import MAX_BATCH_ROWS, ROWS_PER_RULE, batch_rows

pytestmark = pytest.mark.timeout(10)


def test_a_few_rules_keep_the_configured_batch_size():
    assert batch_rows(10_000, 10) == 10_000
    assert batch_rows(10_000, 10_000 // ROWS_PER_RULE) == 10_000


def test_many_rules_get_enough_versions_per_batch_to_pay_for_planning():
    assert batch_rows(10_000, 1_000) == 1_000 * ROWS_PER_RULE


def test_the_batch_stays_bounded_however_many_rules():
    assert batch_rows(10_000, 100_000) == MAX_BATCH_ROWS


def test_a_larger_configured_size_is_kept():
    assert batch_rows(500_000, 1_000) == 500_000
