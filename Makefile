# Two-command set-up: `make demo` and `make test` both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# torch first, pinned, so that no unpinned dependency pulls the CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev,denoise,multislice]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/aet demo

# mypy --strict on the typed core (files listed in mypy.ini), then the tests; passive OpenMP waits, as aet sets.
test: $(STAMP)
	$(BIN)/mypy
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/python benchmarks/projector.py
	$(BIN)/python benchmarks/reconstruction.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
