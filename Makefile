VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast test-tools soak lint bench clean demo client

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
TEST_TOOLS := sqlite3:sqlite3 shellcheck:shellcheck promtool:prometheus amtool:prometheus-alertmanager jq:jq chromium:chromium tesseract:tesseract-ocr

test-tools:
	@missing=""; for pair in $(TEST_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# The TypeScript client's generator and compiler (tests/contracts/test_typescript_client.py),
# exactly as package-lock.json pins them; Node.js and npm from Debian's packages if missing.
CLIENT_TS := clients/typescript

$(CLIENT_TS)/node_modules: $(CLIENT_TS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm) \
	  || { echo "npm is missing: install Node.js 20 and npm to build $(CLIENT_TS)"; exit 1; }
	cd $(CLIENT_TS) && npm ci --no-audit --no-fund
	@touch $@

# Regenerate the TypeScript client's OpenAPI snapshot and types after an API change.
client: setup $(CLIENT_TS)/node_modules
	$(PY) -m tools.gen_typescript_client

test: setup test-tools $(CLIENT_TS)/node_modules
	$(PY) -m pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=85 -q --durations=20

# The quick loop while editing (about 75 s here): unit and contract tests plus the CLI's
# pure parts, nothing that starts NATS, the workers or the whole system (one contract test
# opens the docs in Chromium, a few seconds). `make test` stays the whole suite.
FAST_TESTS := tests/unit tests/contracts tests/cli/test_cli_units.py

test-fast: setup test-tools $(CLIENT_TS)/node_modules
	$(PY) -m pytest -q $(FAST_TESTS)

soak: setup
	$(PY) -m pytest -m soak -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy shared services

bench: setup
	command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y wrk)
	$(PY) bench/pipeline.py
	$(PY) bench/poll.py
	$(PY) bench/sse.py
	$(PY) bench/upload.py
	$(PY) bench/render.py
	$(PY) bench/frames.py
	$(PY) bench/fanout.py
	$(PY) bench/scale.py

clean:
	rm -rf ./data
