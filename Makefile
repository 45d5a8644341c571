# Two commands on a fresh machine: `make demo` and `make test` (`make docs` builds the site).
# Each builds .venv with pinned dependencies (requirements/constraints.txt) the first time.
# kmseg's kernels are compiled at install (Cython, meson-python): a C compiler and the Python
# headers are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DOCS_STAMP := $(VENV)/.docs-stamp
# The venv's tools first: the editable install rebuilds changed kernels (meson, ninja, cython)
# when kmseg is imported.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint docs clean

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

# The docs extra (Sphinx, pydata-sphinx-theme, sphinx-gallery, numpydoc...) in the same .venv.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt \
	    --no-build-isolation -e ".[docs]"
	touch $(DOCS_STAMP)

# The site, warnings as errors; every gallery example runs. Open docs/_build/html/index.html.
docs: $(DOCS_STAMP)
	MPLBACKEND=Agg $(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) kmseg-demo .pytest_cache build docs/_build docs/auto_examples \
	    docs/auto_benchmarks docs/api docs/sg_execution_times.rst
