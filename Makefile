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

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.reminders --rules $(if $(QUICK),10000,100000)

clean:
	rm -rf $(VENV) build *.egg-info
