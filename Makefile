# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv with pinned
# dependencies (requirements/constraints.txt) the first time. kmseg's kernels are compiled at
# install (Cython, meson-python): a C compiler and the Python headers are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The venv's tools first: the editable install rebuilds changed kernels (meson, ninja, cython)
# when kmseg is imported.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint clean

$(STAMP): pyproject.toml requirements/constraints.txt meson.build
	@command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || { \
	    echo "kmseg compiles its kernels at install and needs a C compiler and the Python" \
	         "headers (Debian/Ubuntu: sudo apt-get install gcc python3-dev)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt \
	    meson-python meson ninja cython
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt \
	    --no-build-isolation -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kmseg demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) kmseg-demo .pytest_cache build
