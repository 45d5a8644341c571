"""The ``kmseg`` command.

Only :mod:`argparse` is imported to build the parser (:mod:`kmseg.cli._parser`); each subcommand
imports what it needs when it runs (:mod:`kmseg.cli._commands`), so ``kmseg --help`` stays fast.
Errors print one line and exit with status 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence

from ._parser import build_parser as build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    with _long_lived("kmseg._parallel"):
        from .. import _parallel
        from .._errors import KmsegError

    _parallel.skip_final_collections()

    try:
        with _long_lived("kmseg.cli._commands"):
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


@contextlib.contextmanager
def _long_lived(module: str) -> Iterator[None]:
    """For the first import of ``module``, whose objects (modules, classes, functions) live as
    long as the process: the garbage collector off inside, and what exists frozen after (left
    out of later collections). The 60 collections the imports of NumPy, Pillow and kmseg set
    off freed nothing and took 11-17 ms of a whole ``kmseg segment`` of a 481x321 photo (1 ms
    left); pausing them alone saved nothing, as the next collection then walked every new
    object. Once imported (main called again in one process), nothing is frozen."""
    if module in sys.modules:
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
