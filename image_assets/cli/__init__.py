"""`imgpipe`: the command line. Each command group lives in its own module and registers itself here.

User mistakes (bad arguments, unknown ids, unreachable services) print one line to stderr and exit
non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from image_assets.cli.errors import UserError
from image_assets.settings import ConfigError

COMMAND_MODULES = (
    "image_assets.cli.pipeline_commands",
    "image_assets.cli.catalog_commands",
    "image_assets.cli.codec_commands",
    "image_assets.cli.source_commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Every command module registers its commands; one that cannot be imported is a broken install, so it
    raises instead of silently dropping its commands."""
    import importlib

    parser = argparse.ArgumentParser(prog="imgpipe", description=(__doc__ or "").splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The assets use Dagster's (beta) backfill_policy on purpose; the CLI's users need not be told each time.
    warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`")
    try:
        parser = build_parser()
    except ImportError as exc:
        print(
            f"imgpipe: broken installation: cannot import {exc.name or exc} ({exc}); run `make setup`", file=sys.stderr
        )
        return 3
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"imgpipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        print(f"imgpipe: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `imgpipe catalog list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("imgpipe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
