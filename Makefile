VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast test-tools soak lint bench clean demo

setup: $(STAMP)

# The stamp makes `make setup` instant until pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

run: setup
	$(PY) -m deploy.run_local

# Against a running `make run`: generate, approve, render, download; prints the mp4's path.
demo: setup
	$(PY) -m reelsmith_cli.demo

# System tools the tests run, installed from Debian's packages when missing, as
# command:package: the sqlite3 CLI (runbook backup/rollback), shellcheck (entrypoint),
# promtool (metrics and alert rules), jq (the seed's log queries), chromium (web console),
# tesseract (OCR of rendered ads in tests/acceptance; its English data comes with it).
TEST_TOOLS := sqlite3:sqlite3 shellcheck:shellcheck promtool:prometheus jq:jq chromium:chromium tesseract:tesseract-ocr

test-tools:
	@missing=""; for pair in $(TEST_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

test: setup test-tools
	$(PY) -m pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=85 -q --durations=20

# The quick loop while editing (about 75 s here): unit and contract tests plus the CLI's
# pure parts, nothing that starts NATS, the workers or the whole system (one contract test
# opens the docs in Chromium, a few seconds). `make test` stays the whole suite.
FAST_TESTS := tests/unit tests/contracts tests/cli/test_cli_units.py

test-fast: setup test-tools
	$(PY) -m pytest -q $(FAST_TESTS)

soak: setup
	$(PY) -m pytest -m soak -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy shared services

bench: setup
	command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y wrk)
	$(PY) bench/pipeline.py
	$(PY) bench/poll.py

clean:
	rm -rf ./data
