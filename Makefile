# Two entry points for a newcomer: `make demo` and `make test`.
# Both create (or reuse) a local virtual environment in .venv, so a fresh machine needs only python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.medgan-core
DEV := $(VENV)/.medgan-dev

.PHONY: setup demo test lint clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# medgan and its core dependencies
$(CORE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(CORE)

# + test tools, and the optional YOLO backend (ultralytics, AGPL-3.0) so that its code is tested too
$(DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,yolo]"
	touch $(CORE) $(DEV)

setup: $(CORE)

# one thread per process: the demo's stages are small, and extra threads only contend for the cores
demo: $(CORE)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV)/bin/medgan demo

test: $(DEV)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

lint: $(DEV)
	$(VENV)/bin/ruff check medgan tests scripts benchmarks examples

clean-venv:
	rm -rf $(VENV)
