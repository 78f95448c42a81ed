VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-tools soak lint bench clean

setup: $(STAMP)

# The stamp makes `make setup` instant until pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

run: setup
	$(PY) -m deploy.run_local

# System tools the tests run (the sqlite3 CLI for the runbook's backup/rollback commands,
# shellcheck for the entrypoint), installed from Debian's packages when missing.
TEST_TOOLS := sqlite3 shellcheck

test-tools:
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi

test: setup test-tools
	$(PY) -m pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=85 -q

soak: setup
	$(PY) -m pytest -m soak -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy shared

bench: setup
	command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y wrk)
	$(PY) bench/pipeline.py
	$(PY) bench/poll.py

clean:
	rm -rf ./data
