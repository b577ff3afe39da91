"""Every log line of a request carries its id; the response echoes it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.config import LogFormat, LogSettings
from app.logging import configure_logging

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def json_log():
    """The process's log as JSON objects, collected for the test, then reset."""
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().handlers.clear()


async def test_a_request_id_is_made_or_kept_and_on_every_line(app_client, admin, json_log):
    """Without a header the api makes an id; a sane X-Request-ID is kept, an odd one replaced;
    each shows in the response and on the request's log lines (one JSON object a line)."""
    made = await app_client.post("/api/v1/automation/pause", headers=admin)  # logs a line
    kept = await app_client.get(
        "/api/v1/automation/runs", headers={**admin, "X-Request-ID": "abc-123"}
    )
    odd = await app_client.get(
        "/api/v1/automation/runs", headers={**admin, "X-Request-ID": "no spaces; please"}
    )
    assert len(made.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "abc-123"
    assert odd.headers["x-request-id"] != "no spaces; please"
    lines = json_log()
    handled = [line for line in lines if line["message"] == "Request handled"]
    assert [line["request"] for line in handled] == [
        made.headers["x-request-id"],
        "abc-123",
        odd.headers["x-request-id"],
    ]
    assert handled[0]["status"] == 200
    (paused,) = [line for line in lines if line["message"] == "Automation paused"]
    assert paused["request"] == made.headers["x-request-id"]
