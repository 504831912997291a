"""``nongshu trace org add`` and ``nongshu trace keys issue|list|revoke``: what an operator does on the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nongshu.cli import main
from traceability.errors import AuthError
from traceability.gs1 import with_check_digit
from traceability.store import TraceStore


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'trace.db'}"]


def test_issue_list_and_revoke_a_key(db: list[str]) -> None:
    runner = CliRunner()
    gln = with_check_digit("690123456789")
    added = runner.invoke(main, ["trace", "org", "add", "--gln", gln, "--name", "Anding Potato Co-op",
                                 "--role", "cooperative", *db])
    assert added.exit_code == 0, added.output
    issued = runner.invoke(main, ["trace", "keys", "issue", gln, "--label", "packing line", *db])
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip().splitlines()[0]
    assert key.startswith("nsk_")
    key_id = key.split("_")[1]
    with TraceStore.open(db[1]) as store:
        assert store.authenticate(key).gln == gln
    listed = runner.invoke(main, ["trace", "keys", "list", "--json", *db])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["key_id"], r["gln"], r["label"], r["revoked_at"]) for r in rows] == [
        (key_id, gln, "packing line", None)]
    assert key.split("_", 2)[2] not in listed.stdout  # the secret is never shown again
    revoked = runner.invoke(main, ["trace", "keys", "revoke", key_id, *db])
    assert revoked.exit_code == 0, revoked.output
    with TraceStore.open(db[1]) as store, pytest.raises(AuthError):
        store.authenticate(key)
    assert json.loads(runner.invoke(main, ["trace", "keys", "list", "--json", *db]).stdout)[0]["revoked_at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trace", "keys", "issue", with_check_digit("690123456788")], "unknown organisation"),
        (["trace", "keys", "issue", "6901234567890"], "check digit"),
        (["trace", "keys", "revoke", "0123456789ab"], "unknown API key id"),
        (["trace", "org", "add", "--gln", with_check_digit("690123456789"), "--name", "X", "--role", "farmer"],
         "unknown organisation role"),
    ],
)
def test_bad_key_commands_are_clear_errors(db: list[str], args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, [*args, *db])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
