"""The README's fenced code blocks, for the test that runs them (tests/test_readme.py) and the
plain-install smoke test (.ci/plain-install)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def fenced(readme: Path = README) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block, in order."""
    return _FENCE.findall(readme.read_text())


def blocks(language: str, readme: Path = README) -> list[str]:
    """The text of every block fenced as ``language`` (```sh, ```python), in order."""
    return [body for lang, body in fenced(readme) if lang == language]
