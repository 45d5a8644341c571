"""The regions preset on every file of the shared corpus: what a user meets with odd files.

    python benchmarks/regions_corpus.py [--folders odd multiband large]

For each file of ``../shared/data/corpus/<folder>`` (sorted), reads it with
:func:`kmseg.load_image` and runs ``kmseg.segment(image, regions=True)`` (decode excluded from
the time), then prints one Markdown row: size, dtype and bands, the regions found, the k the
painting k-means used, the seconds, or the :class:`kmseg.KmsegError` it stopped with (its first
80 characters). Any other exception is a failure: it is printed in full and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import kmseg

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus"


def row(path: Path) -> tuple[str, bool]:
    """One table row for ``path``, and whether it failed (not a KmsegError)."""
    try:
        loaded = kmseg.load_image(path)
        start = time.perf_counter()
        seg = kmseg.segment(loaded, regions=True)
        seconds = time.perf_counter() - start
    except kmseg.KmsegError as error:
        message = str(error).removeprefix(f"{path}: ")
        return f"| {path.name} | | | | | {type(error).__name__}: {message[:80]} |", False
    except Exception as error:  # reported, then the run fails
        return f"| {path.name} | | | | | FAILURE {type(error).__name__}: {error} |", True
    pixels = loaded.pixels
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    kind = f"{pixels.shape[1]}x{pixels.shape[0]} {pixels.dtype} x{bands}"
    return f"| {path.name} | {kind} | {seg.n_regions} | {seg.k} | {seconds:.2f} | |", False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", nargs="+", default=["odd", "multiband", "large"])
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    print("| file | size, dtype, bands | regions | k | seconds | stopped with |")
    print("|---|---|---|---|---|---|")
    failed = False
    for folder in args.folders:
        for path in sorted((CORPUS / folder).iterdir()):
            if path.suffix.lower() == ".md":
                continue
            line, failure = row(path)
            print(line, flush=True)
            failed |= failure
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
