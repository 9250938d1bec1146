# ferrotem — one command per job; each sets up what it needs on a fresh machine.
#   make demo   venv + deps + release build, then `ferrotem demo`
#   make test   same set-up, then rustfmt, clippy, cargo test, ruff, pytest
#   make bench  same set-up, then the side-by-side benchmark table

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-stamp
PYTEST_ARGS ?= -q -m "not slow"

.PHONY: all venv develop demo test lint rust-test py-test bench bench-libertem clean

all: test

$(DEPS_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(DEPS_STAMP)

# maturin rebuilds incrementally; always run it so the extension matches the sources.
develop: $(DEPS_STAMP)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop --release --quiet

demo: develop
	$(VENV)/bin/ferrotem demo

lint: $(DEPS_STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks examples

rust-test:
	cargo test --workspace --quiet

py-test: develop
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: develop lint rust-test py-test

bench: develop
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) target
