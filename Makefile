# engagekit — every target bootstraps .venv itself, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= demo-project

.PHONY: setup demo test test-fast bench lint format chromium smtp-sink clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Debian's chromium looks at rendered reports in the tests; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium could not be installed: report screenshot tests will skip"

# postfix's smtp-sink is the fast SMTP sink the delivery benchmarks send to.
smtp-sink:
	@command -v smtp-sink >/dev/null 2>&1 || test -x /usr/sbin/smtp-sink || { \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postfix >/dev/null; }

demo: $(STAMP)
	$(BIN)/python -m engagekit.demo --dir $(DEMO_DIR)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# full sizes take long (the analytics lake alone is 50M events); `make bench BENCH_ARGS=--quick`
BENCH_ARGS ?=
bench: $(STAMP) smtp-sink
	@for b in benchmarks/bench_*.py; do echo "== $$b $(BENCH_ARGS)"; $(BIN)/python $$b $(BENCH_ARGS) || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check engagekit recommenders tests benchmarks data
	$(BIN)/ruff format --check engagekit recommenders tests benchmarks data
	$(BIN)/mypy engagekit

format: $(STAMP)
	$(BIN)/ruff format engagekit recommenders tests benchmarks data
	$(BIN)/ruff check --fix engagekit recommenders tests benchmarks data

clean:
	rm -rf $(DEMO_DIR) reports/out .pytest_cache
