"""How kmseg is built: kernels compiled at install, every file installed, no JIT at run time."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import kmseg

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "kmseg"
JIT = ("numba", "llvmlite")
KERNELS = ("_float_codes", "_grid", "_histogram", "_lloyd", "_optimal_1d", "_seeding")
# What a whole `kmseg segment` needs: reading, the engine, writing PNGs. The rest of the stack
# (figures, scikit-learn, SciPy, scikit-image, Dask) costs 0.1-1 s of import each; the scan
# readers (nibabel, pydicom) are for scans only.
NOT_FOR_SEGMENT = ("matplotlib", "sklearn", "scipy", "skimage", "dask", "distributed",
                   "nibabel", "pydicom", *JIT)


def listed_in_meson() -> set[Path]:
    """The package files the meson.build files install (paths relative to src/kmseg)."""
    listed = set()
    for build in PACKAGE.rglob("meson.build"):
        text = re.sub(r"#.*", "", build.read_text())
        folder = build.parent.relative_to(PACKAGE)
        for name in re.findall(r"'([^']+\.(?:py|pyx|jpg|ico|css|js|html|typed))'", text):
            listed.add(folder / name)
        for kernel in re.findall(r"foreach kernel : \[([^\]]*)\]", text):
            listed.update(folder / f"{name}.pyx" for name in re.findall(r"'(\w+)'", kernel))
    return listed


def test_meson_installs_every_file_of_the_package():
    # .pxd files are cimported at build time only.
    on_disk = {path.relative_to(PACKAGE) for path in PACKAGE.rglob("*")
               if path.is_file() and "__pycache__" not in path.parts
               and path.name != "meson.build"
               and path.suffix not in (".so", ".pyd", ".c", ".pxd")}
    listed = listed_in_meson()
    assert on_disk - listed == set(), "files meson would not install"
    assert listed - on_disk == set(), "meson lists files that do not exist"


def test_kernels_are_compiled_extension_modules():
    import importlib

    for name in KERNELS:
        module = importlib.import_module(f"kmseg._kernels.{name}")
        assert module.__file__.endswith(tuple(EXTENSION_SUFFIXES)), module.__file__


def test_no_jit_compiler_among_the_dependencies():
    for pins in ("pyproject.toml", "requirements/constraints.txt"):
        text = (ROOT / pins).read_text().lower()
        assert not any(re.search(rf"^\s*\"?{name}\b", text, re.M) for name in JIT), pins


def test_the_version_comes_from_one_place():
    result = subprocess.run([sys.executable, str(PACKAGE / "_version.py")], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == kmseg.__version__
    assert "run_command('src/kmseg/_version.py'" in (ROOT / "meson.build").read_text()


@pytest.mark.parametrize("how", ["api", "cli"])
def test_a_segmentation_imports_only_what_it_needs(tmp_path, how):
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.open(kmseg.data.sample_path()).resize((96, 64)).save(photo)
    run = {
        "api": f"import kmseg; kmseg.segment({str(photo)!r}, k=3).save({str(tmp_path)!r})",
        "cli": ("from kmseg.cli import main; assert main(['segment', "
                f"{str(photo)!r}, '-k', '3', '-o', {str(tmp_path)!r}]) == 0"),
    }[how]
    code = f"import sys; {run}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(eval(result.stdout.strip().splitlines()[-1]))
    assert "kmseg" in loaded and "numpy" in loaded  # the check sees what ran
    assert loaded.isdisjoint(NOT_FOR_SEGMENT), sorted(loaded & set(NOT_FOR_SEGMENT))
