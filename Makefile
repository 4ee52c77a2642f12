# ra: the two-command quick start is `make demo` and `make test`; both run
# scripts/setup.sh first (Debian packages, .venv, pip install), which is quick
# when everything is already there.

VENV := .venv
PY := $(VENV)/bin/python
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS='-k logs -x'`.
PYTEST_ARGS ?=
# If set (as .ci/run does), the test target writes pytest's own exit code here,
# since make itself turns every failure into exit code 2.
RA_PYTEST_STATUS_FILE ?=

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint bench clean

help:
	@echo "ra make targets:"
	@echo "  make setup   install Debian packages (as root), create .venv, pip install -e '.[test,bench]'"
	@echo "  make demo    setup, then run the main job: .venv/bin/ra demo"
	@echo "  make test    setup, then run the tests: python -m pytest \$$PYTEST_ARGS"
	@echo "  make lint    ruff check + mypy --strict ra (installs the dev extra)"
	@echo "  make bench   setup, then run the benchmarks: python -m bench"
	@echo "  make clean   remove .venv and caches"

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/ra demo

# pytest exits 5 when it collected no tests; that must not pass quietly, so
# say so, and pass pytest's status on (make then exits non-zero).
test: setup
	@status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ -n "$(RA_PYTEST_STATUS_FILE)" ]; then echo $$status > "$(RA_PYTEST_STATUS_FILE)"; fi; \
	if [ $$status -eq 5 ]; then echo "ra: no tests ran (pytest exit code 5): failing"; fi; \
	exit $$status

lint:
	@RA_EXTRAS=test,bench,dev bash scripts/setup.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict ra

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
