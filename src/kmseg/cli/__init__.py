"""The ``kmseg`` command.

Only :mod:`argparse` is imported to build the parser (:mod:`kmseg.cli._parser`); each subcommand
imports what it needs when it runs (:mod:`kmseg.cli._commands`), so ``kmseg --help`` stays fast.
Errors print one line and exit with status 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._parser import build_parser as build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    from .. import _parallel
    from .._errors import KmsegError

    _parallel.skip_final_collections()

    try:
        from . import _commands

        return getattr(_commands, args.run)(args)
    except KmsegError as error:
        if args.debug:
            raise
        print(f"kmseg: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("kmseg: interrupted", file=sys.stderr)
        return 130
