"""The README's configuration table and Config's declarations say the same: every setting is in the
table, every name in the table is read by someone, and the defaults the table states are the ones used."""

from __future__ import annotations

import re

import pytest

from backend.config import PROJECT_ROOT, Config

# Names in the table that Config does not read: tests, gunicorn.conf.py and the two it reads first.
READ_ELSEWHERE = {"QB_ENV", "DATABASE_URL", "TEST_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"}
READ_ELSEWHERE |= {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"}
LITERAL = re.compile(r"`([^`]*)`(\s*\(.*\))?")
UNSET = re.compile(r"(unset|empty)(\s*\(.*\))?")


def table_rows(readme: str) -> list[tuple[list[str], str]]:
    """(names, default column) of each row of the Configuration section's table."""
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0].split("(alias", 1)[0])
        rows.append((names, cells[1]))
    return rows


def disagreements(readme: str) -> list[str]:
    declared = Config.settings().values()
    by_env = {spec.env: spec for spec in declared}
    known = set(by_env) | {alias for spec in declared for alias in spec.aliases} | READ_ELSEWHERE
    rows = table_rows(readme)
    in_table = {name for names, _ in rows for name in names}
    found = [f"{name} is declared but not in the README's table" for name in sorted(set(by_env) - in_table)]
    found += [f"{name} is in the README's table but nothing reads it" for name in sorted(in_table - known)]
    for names, column in rows:
        stated = column.split(", ")
        if len(stated) != len(names):
            continue  # a default told in words, not value by value
        for name, text in zip(names, stated, strict=True):
            spec = by_env.get(name)
            literal, unset = LITERAL.fullmatch(text), UNSET.fullmatch(text)
            if spec is None or (literal and literal.group(1) in known):
                continue
            value = literal.group(1) if literal else "" if unset else None
            if value is None:
                continue
            if spec.parse(name, value) != spec.parse(name, spec.default):
                found.append(f"{name}: the README says {text}, the declaration {spec.default!r}")
    return found


def test_the_readme_table_matches_the_declarations():
    assert disagreements((PROJECT_ROOT / "README.md").read_text()) == []


SMTP_DEFAULTS = "`Questbridge <no-reply@questbridge.local>`, `true` |"


@pytest.mark.parametrize(
    ("old", "new", "complaints"),
    [
        pytest.param(
            "| `WEBHOOKS_BACKOFF_SECONDS`, `WEBHOOKS_MAX_ATTEMPTS` | `60,120,240,480,960`, `5` |",
            "| `WEBHOOKS_BACKOFF_SECONDS` | `60,120,240,480,960` |",
            ["WEBHOOKS_MAX_ATTEMPTS is declared but not in the README's table"],
            id="a-setting-left-out",
        ),
        pytest.param(
            "`60,120,240,480,960`, `5`",
            "`60,120,240,480,960`, `6`",
            ["WEBHOOKS_MAX_ATTEMPTS: the README says `6`, the declaration '5'"],
            id="a-wrong-default",
        ),
        pytest.param(
            "| `SENTRY_DSN` |",
            "| `SENTRY_DSN`, `SENTRY_SAMPLE_RATE` |",
            ["SENTRY_SAMPLE_RATE is in the README's table but nothing reads it"],
            id="a-name-nothing-reads",
        ),
        pytest.param(
            SMTP_DEFAULTS,
            SMTP_DEFAULTS.replace("`true`", "`false`"),
            ["SMTP_STARTTLS: the README says `false`, the declaration 'true'"],
            id="a-wrong-switch",
        ),
        # Defaults are compared as parsed, so another spelling of the same value agrees.
        pytest.param(SMTP_DEFAULTS, SMTP_DEFAULTS.replace("`true`", "`on`"), [], id="the-same-value-spelled-otherwise"),
    ],
)
def test_the_check_sees_a_row_that_disagrees(old, new, complaints):
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert readme.count(old) == 1, old
    assert disagreements(readme.replace(old, new)) == complaints
