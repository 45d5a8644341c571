"""The README runs as written: every ```sh and ```python block, in order, in one empty folder,
after its set-up block (``make demo`` / ``make test``, which built the venv these tests run in).

Blocks fenced ```text are shown, not run (the web server, which runs until Ctrl+C).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from readme_blocks import README, blocks, fenced


def _runnable_blocks() -> list[tuple[str, str]]:
    found = [(lang, body) for lang, body in fenced() if lang in ("sh", "python")]
    setup = found.pop(0)
    assert setup[0] == "sh" and "make demo" in setup[1] and "make test" in setup[1]
    return found


def test_readme_blocks_run_top_to_bottom(tmp_path):
    venv = Path(sys.executable).parents[1]
    (tmp_path / ".venv").symlink_to(venv)  # the README's `. .venv/bin/activate`
    env = os.environ | {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                        "MPLBACKEND": "Agg"}
    ran = []
    for number, (lang, body) in enumerate(_runnable_blocks(), 1):
        command = ["bash", "-e", "-o", "pipefail", "-c", body] if lang == "sh" else [
            sys.executable, "-c", body]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, (
            f"README block {number} ({lang}) failed:\n{body}\n--- stdout\n{result.stdout[-3000:]}"
            f"\n--- stderr\n{result.stderr[-3000:]}")
        assert "Traceback" not in result.stderr, result.stderr
        ran.append(lang)
    assert ran.count("python") >= 4 and ran.count("sh") >= 3
    # What the blocks promise was written.
    for name in ("out/photo_labels.png", "out/photo_compare.png", "out/init/photo.json",
                 "out/gray/photo_labels.png", "out/lab/a.json", "figures/photo_sweep.png",
                 "figures/photo_colors.png", "figures/photo_choose_k.png",
                 "out/regions/photo_regions.png", "out/batch/a_labels.png", "palette.json",
                 "out/video/clip.json", "kmseg-demo/coffee_compare.png", "sweep.png",
                 "colors.png", "out/scan/scan_labels.nii.gz"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "photo.jpg").is_dir()


def test_every_python_block_imports_what_it_uses():
    # Each block runs in a fresh interpreter, as a reader pasting one block would.
    for body in blocks("python"):
        assert "import kmseg" in body


@pytest.mark.parametrize("extra", ["serve", "video", "dask", "med"])
def test_extras_named_as_installable_from_the_checkout(extra):
    text = README.read_text()
    assert f"pip install '.[{extra}]'" in text
    assert f"kmseg[{extra}]" not in text.replace(f"'.[{extra}]'", "")
