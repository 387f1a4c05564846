# The README's two commands, `make run` and `make test`, build .venv on first use and reuse it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= lowband-data

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@test -f $(DATA)/lowband.db || $(BIN)/lowband init --demo
	LOWBAND_DEV=1 $(BIN)/lowband serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# Every figure into bench/RESULTS.md (about 15 minutes on 2 cores; QUICK=1: about 2). Installs wrk
# (Debian's package) if missing and run as root.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) build *.egg-info
