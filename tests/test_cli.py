"""The `imgpipe` entry point: broken installs fail loudly, and every command reads dates the same way."""

from __future__ import annotations

import pytest

from image_assets import cli
from image_assets.cli.errors import UserError
from image_assets.cli.options import number_option, parse_day


def test_a_command_module_that_fails_to_import_is_loud(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "image_assets.cli.no_such_commands"))
    assert cli.main(["catalog", "list"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image_assets.cli.no_such_commands" in err and "Traceback" not in err


def test_every_command_module_registers() -> None:
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"demo", "backfill", "catalog", "get", "compress", "decompress", "inspect", "sources"} <= set(commands)


@pytest.mark.parametrize("text", ["20261126", "2026-11-26T00:00", "2026-W48-4", "2026-11-31", "yesterday", ""])
def test_one_date_format_everywhere(text: str) -> None:
    with pytest.raises(UserError, match=r"invalid --to .*use YYYY-MM-DD"):
        parse_day(text, "--to")


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--source", "local", "--from", "20261126", "--to", "2026-11-26"],
        ["sources", "list", "local", "--date", "20261126"],
        ["catalog", "list", "--date", "20261126"],
        ["demo", "--date", "20261126"],
    ],
)
def test_commands_refuse_compact_dates_in_one_line(argv: list[str], capsys) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'20261126': use YYYY-MM-DD" in err


def test_parse_day_accepts_iso_days() -> None:
    assert parse_day("2026-11-26").isoformat() == "2026-11-26"


@pytest.mark.parametrize(("text", "kind"), [("nan", float), ("inf", float), ("1.5", int), ("x", float)])
def test_number_option_refuses_non_finite_and_malformed(text: str, kind: type) -> None:
    with pytest.raises(UserError, match="--n"):
        number_option("--n", text, kind)
