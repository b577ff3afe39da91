"""The operators' guides: the Ukrainian one uses only the operators' commands (or ones the
suite runs), shows the Ukrainian log lines, and maps every checklist item to a doctor line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import doctor

ROOT = Path(__file__).parents[2]
UK_GUIDE = ROOT / "docs" / "uk" / "operations.md"
EN_GUIDE = ROOT / "docs" / "operations.md"

# The operators' commands, verbatim, and the ones the test suite runs.
ALLOWED_COMMANDS = {
    "docker exec task-tracker-api psql -U postgres -d tasktracker -c"
    " \"SELECT id, func_ref FROM apscheduler_jobs WHERE func_ref LIKE '%automation%';\"",
    'curl -X POST http://localhost/api/v1/automation/trigger -H "Authorization: Bearer $TOKEN"',
    "docker logs task-tracker-worker --follow",
    "docker logs task-tracker-worker --tail=50",
    'docker logs task-tracker-worker | grep -i "automation\\|schedule"',
    "docker compose restart worker",
    "docker ps",
    "docker exec task-tracker-api tasktracker token create --name NAME --role admin",
    "docker exec task-tracker-api tasktracker doctor",
    "docker exec task-tracker-api tasktracker audit verify",  # tests/containers runs it
    "docker compose up -d --wait",
}
SPEC_LINES_UK = [
    "INFO automation: Запущено виконання автоматизації run=",
    "INFO automation: Оцінювання 47 незавершених версій run=",
    "INFO automation: Правило 'High Confidence' відповідало 34 версіям run=",
    "INFO automation: Авто-затверджено 34 версій run=",
    "INFO automation: Виконання завершено (3.2s) run=",
]
CHECKS = [
    doctor.DATABASE,
    doctor.RABBITMQ,
    doctor.WORKER,
    doctor.LEADER,
    doctor.JOBS,
    doctor.CRON,
    doctor.TIME_ZONES,
    doctor.RECENT_RUNS,
    doctor.RULES,
    doctor.DECISIONS,
    doctor.ROLE,
]


def shell_blocks(text: str) -> list[str]:
    """The command lines of the guide's ```bash / ```sh blocks (comments left out)."""
    lines = []
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.DOTALL):
        lines += [
            line.strip()
            for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    return lines


def test_every_command_of_the_ukrainian_guide_is_an_operators_command():
    """Each command in a shell block is one the operators wrote or the suite runs, verbatim."""
    commands = shell_blocks(UK_GUIDE.read_text())
    assert len(commands) >= 8
    assert [c for c in commands if c not in ALLOWED_COMMANDS] == []


def test_inline_commands_of_the_ukrainian_guide_are_operators_commands():
    """Commands quoted inline (`docker ...`, `curl ...`) are allowed ones too, or an
    abbreviation (`...`) of one shown in full above."""
    inline = re.findall(r"`((?:docker|curl) [^`]*)`", UK_GUIDE.read_text())
    wrong = [
        c
        for c in inline
        if c not in ALLOWED_COMMANDS
        and not (c.endswith("...") and any(a.startswith(c[:-3]) for a in ALLOWED_COMMANDS))
    ]
    assert wrong == []


@pytest.mark.parametrize("guide", [UK_GUIDE, EN_GUIDE], ids=["uk", "en"])
def test_the_operators_sections_use_the_same_commands_in_both_languages(guide):
    """The English guide's operators' sections show the same commands as the Ukrainian one."""
    uk = set(shell_blocks(UK_GUIDE.read_text()))
    text = guide.read_text()
    operators_part = text[: text.index("## Start and stop")] if guide is EN_GUIDE else text
    assert set(shell_blocks(operators_part)) == uk


def test_the_ukrainian_guide_shows_a_good_run_in_ukrainian():
    """What a good run prints is shown as the Ukrainian lines of SPEC 6.7, and LOG_LANGUAGE=uk
    is named."""
    text = UK_GUIDE.read_text()
    for line in SPEC_LINES_UK:
        assert line in text
    assert "LOG_LANGUAGE=uk" in text


@pytest.mark.parametrize(
    ("guide", "heading"),
    [
        (UK_GUIDE, "\n## Контрольний список усунення неполадок\n"),
        (EN_GUIDE, "\n## Troubleshooting checklist\n"),
    ],
    ids=["uk", "en"],
)
def test_the_checklist_names_every_doctor_line(guide, heading):
    """Each line `tasktracker doctor` prints is named in the guide's checklist section."""
    text = guide.read_text()
    start = text.index(heading) + len(heading)
    end = text.find("\n## ", start)
    checklist = text[start : end if end != -1 else len(text)]
    assert [name for name in CHECKS if f"`{name}`" not in checklist] == []


@pytest.mark.parametrize(
    ("section", "guide"),
    [
        (s, UK_GUIDE)
        for s in (
            "## Архітектура APScheduler",
            "### Стани завдань",
            "### Автоматичні тригери",
            "### Ручні тригери",
            "### Де зберігаються журнали",
            "### Успішне виконання",
            "## Усунення помилок",
            "### Кроки відновлення",
            "## Контрольний список усунення неполадок",
        )
    ]
    + [
        (s, EN_GUIDE)
        for s in (
            "## Architecture (APScheduler)",
            "### Job states",
            "### Automatic triggers",
            "### Manual triggers",
            "### Where the logs are",
            "### A good run",
            "## Troubleshooting",
            "### Recovery steps",
            "## Troubleshooting checklist",
        )
    ],
)
def test_the_guides_follow_the_operators_document(section, guide):
    """Both guides have the sections of the operators' own document, in its order."""
    assert f"\n{section}\n" in guide.read_text()


def test_the_seven_job_states_and_the_three_errors_are_covered():
    """The seven job states and the table's three errors appear in both guides."""
    for guide in (UK_GUIDE, EN_GUIDE):
        text = guide.read_text()
        for state in (
            "PENDING",
            "SCHEDULED",
            "EXECUTING",
            "COMPLETED",
            "FAILED",
            "PAUSED",
            "REMOVED",
        ):
            assert f"\n{state} " in text, (guide, state)
    uk = UK_GUIDE.read_text()
    assert all(
        e in uk
        for e in ("| Відмова підключення |", "| Завдання не знайдено |", "| Timeout (>30s) |")
    )
    en = EN_GUIDE.read_text()
    assert all(
        e in en for e in ("| Connection refused |", "| Job not found |", "| Timeout (>30s) |")
    )


def test_both_guides_are_linked():
    """README and the English guide link the Ukrainian one."""
    assert "(docs/uk/operations.md)" in (ROOT / "README.md").read_text()
    assert "(uk/operations.md)" in EN_GUIDE.read_text()
    assert "(../operations.md)" in UK_GUIDE.read_text()
