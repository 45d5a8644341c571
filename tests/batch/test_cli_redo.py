"""kmseg batch on the command line: outputs made with other settings are redone, --force.

The library side is tested in ``test_batch.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_batch import make_inputs

from kmseg.cli import main


def batch(tmp_path: Path, capsys, *options: str) -> tuple[int, str]:
    code = main(["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--workers", "1",
                 "--no-progress", *options])
    return code, capsys.readouterr().out


def test_cli_counts_outputs_redone_because_settings_changed(tmp_path, capsys):
    make_inputs(tmp_path / "in", 3)
    assert batch(tmp_path, capsys, "-k", "6")[0] == 0
    code, out = batch(tmp_path, capsys, "-k", "3")
    assert code == 0 and re.search(r"\b3 redone\b", out), out
    assert "0 already complete" in out
    assert json.loads((tmp_path / "out" / "p0.json").read_text())["k"] == 3
    code, out = batch(tmp_path, capsys, "-k", "3")
    assert code == 0 and "3 already complete" in out and re.search(r"\b0 redone\b", out), out


def test_cli_force_redoes_complete_outputs(tmp_path, capsys):
    make_inputs(tmp_path / "in", 3)
    assert batch(tmp_path, capsys, "-k", "3")[0] == 0
    code, out = batch(tmp_path, capsys, "-k", "3", "--force")
    assert code == 0 and re.search(r"\b3 redone\b", out), out
    assert "0 already complete" in out
