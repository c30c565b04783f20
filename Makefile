# Two commands do all the set-up: `make book` and `make test`.
# Both create .venv from requirements.lock the first time (and when the lock changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test lint clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

book: $(STAMP)
	$(BIN)/gni book --profile cpu

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check gni tests benchmarks
	$(BIN)/ruff format --check gni tests benchmarks
	$(BIN)/ruff check --select F,E9 notebooks  # the notebooks: names and syntax only

clean-venv:
	rm -rf $(VENV)
