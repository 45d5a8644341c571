"""The readers under a seeded mutation fuzzer: every malformed file loads or raises a KmsegError.

The engine (seeds, mutations, worker processes, hang and crash detection) is
``benchmarks/fuzz_readers.py``, which also runs long campaigns. The seeds are the small files of
../shared/data/corpus/odd (read where they are) and small files of many formats and layouts
derived from a crop of one of them (written to tmp_path). Each case mutates one seed with
``random.Random`` seeded by (base seed, seed file, case number), writes it to a file and calls
``kmseg.load_image(max_pixels=2**22)`` and, when it loads, ``kmseg.segment(k=3)``, in worker
processes (one per core, at most 2), under ``-W error`` as pytest runs. A case that raises
anything but a KmsegError, hangs (no answer within KMSEG_FUZZ_TIMEOUT seconds: its worker is
killed and the next case goes on) or kills its worker fails the test, named by seed file, case
number and mutation; reproduce one with
``python benchmarks/fuzz_readers.py --repro SEED_FILE CASE``.

Environment: KMSEG_FUZZ_CASES (default 3000), KMSEG_FUZZ_SEED (base seed, default 0),
KMSEG_FUZZ_WORKERS (default: the cores, at most 2), KMSEG_FUZZ_TIMEOUT (seconds a case may
take, default 30), KMSEG_FUZZ_MEMORY_GB (address-space limit of each worker, default 4; 0: none;
a decoder that runs out of it raises MemoryError, which kmseg reports as an ImageReadError).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ODD = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "odd"
sys.path.insert(0, str(BENCHMARKS))
import fuzz_readers  # noqa: E402

pytestmark = pytest.mark.skipif(
    not ODD.is_dir(), reason=f"{ODD} is absent (the shared data sets live beside the repository)"
)

CASES = int(os.environ.get("KMSEG_FUZZ_CASES", "3000"))
BASE_SEED = int(os.environ.get("KMSEG_FUZZ_SEED", "0"))
WORKERS = int(os.environ.get("KMSEG_FUZZ_WORKERS", str(min(2, os.cpu_count() or 1))))
CASE_TIMEOUT = float(os.environ.get("KMSEG_FUZZ_TIMEOUT", "30"))
MEMORY_GB = float(os.environ.get("KMSEG_FUZZ_MEMORY_GB", "4"))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    derived = fuzz_readers.derive_seeds(ODD, tmp_path_factory.mktemp("fuzz-seeds"))
    return fuzz_readers.odd_seeds(ODD) + derived


def test_seed_set(seeds: list[Path]) -> None:
    odd = [p for p in seeds if p.parent == ODD]
    assert len(odd) >= 20  # the shared odd files themselves are seeds
    kinds = {p.read_bytes()[:4] for p in seeds}
    assert {b"\x89PNG", b"II*\x00", b"MM\x00*", b"II+\x00", b"GIF8", b"RIFF"} <= kinds
    assert len({p.name for p in seeds}) == len(seeds)


def test_mutations_are_deterministic(seeds: list[Path]) -> None:
    for case in range(0, 300, 7):
        first = fuzz_readers.case_input(seeds, BASE_SEED, case)
        again = fuzz_readers.case_input(seeds, BASE_SEED, case)
        assert first[0] == again[0] and first[1].data == again[1].data
        assert first[1].steps == again[1].steps and first[1].steps


def test_mutations_cover_the_formats(seeds: list[Path]) -> None:
    steps = [step for case in range(len(seeds) * 6)
             for step in fuzz_readers.case_input(seeds, BASE_SEED, case)[1].steps]
    for family in ("png:", "jpeg:", "tiff:", "isobmff:", "header int", "truncate", "bitflip"):
        assert any(step.startswith(family) for step in steps), family
    changed = sum(fuzz_readers.case_input(seeds, BASE_SEED, case)[1].data
                  != seeds[case % len(seeds)].read_bytes() for case in range(200))
    assert changed > 190


def test_fuzz_readers(seeds: list[Path], tmp_path: Path) -> None:
    camp = fuzz_readers.run_campaign(
        seeds, range(CASES), base_seed=BASE_SEED, workers=WORKERS, case_timeout=CASE_TIMEOUT,
        max_hangs=3, memory_limit=int(MEMORY_GB * (1 << 30)) or None)
    if camp.failures:
        report = fuzz_readers.failure_report(camp, limit=15, findings=tmp_path / "findings",
                                             seeds=seeds, base_seed=BASE_SEED)
        pytest.fail(
            f"{len(camp.failures)} of {camp.cases} fuzzed files neither loaded nor raised a "
            f"KmsegError (base seed {BASE_SEED}; reproduce with python "
            f"benchmarks/fuzz_readers.py --seed {BASE_SEED} --repro SEED_FILE CASE):\n{report}",
            pytrace=False)
    assert camp.cases == CASES
    assert camp.outcomes["ok"] > CASES // 20  # the mutations leave many files readable


def test_hangs_and_crashes_are_caught(seeds: list[Path]) -> None:
    # The engine's own check: a case that hangs or kills its worker is reported, and the cases
    # after it still run (in a new worker).
    camp = fuzz_readers.run_campaign(
        seeds, range(8), workers=1, case_timeout=2.0,
        inject={"hang": [2], "crash": [5]})
    assert camp.cases == 8 and camp.outcomes["ok"] == 6
    bad = {f["case"]: f for f in camp.failures}
    assert bad[2]["outcome"] == "hang" and bad[5]["outcome"] == "crash"
    assert bad[5]["returncode"] < 0 and bad[2]["seed"] == seeds[2].name and bad[2]["steps"]
    report = fuzz_readers.failure_report(camp, seeds=seeds)
    assert f"seed {seeds[2].name} case 2" in report and "hang" in report
