# ferrotem — one command per job; each sets up what it needs on a fresh machine.
#   make demo   venv + deps + release build, then `ferrotem demo`
#   make test   same set-up, then rustfmt, clippy, cargo doc, cargo test, ruff, mypy, pytest
#   make bench  same set-up, then the side-by-side benchmark tables (make bench-docs: into the docs)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-stamp
PYTEST_ARGS ?= -q -m "not slow"

.PHONY: all venv develop demo test lint rust-test py-test bench bench-docs bench-libertem clean system-deps

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
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	$(VENV)/bin/ruff check python tests benchmarks examples
	$(VENV)/bin/mypy

rust-test:
	cargo test --workspace --quiet

py-test: develop
	$(PY) -m mypy.stubtest ferrotem._core
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# graphviz's `dot` renders dask's .visualize() (the seed page calls it); Chromium runs the web
# GUI's browser test (tests/test_gui_browser.py); both Debian packages.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing graphviz (for dask's visualize())"; \
	    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else echo "warning: graphviz 'dot' is missing; the visualize() test will be skipped"; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (for the web GUI's browser test)"; \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null || \
	      echo "warning: chromium could not be installed; the GUI browser test will be skipped"; \
	  else echo "warning: chromium is missing; the GUI browser test will be skipped"; fi; }

test: system-deps develop lint rust-test py-test

# Writes benchmarks/results/latest.md (full tables, date and commit of the run).
bench: develop
	$(PY) benchmarks/run.py && $(PY) benchmarks/dask_bench.py && $(PY) benchmarks/hdf5_bench.py && $(PY) benchmarks/masks_bench.py && $(PY) benchmarks/rawcsr_bench.py && $(PY) benchmarks/mrc_bench.py && $(PY) benchmarks/k2is_bench.py && $(PY) benchmarks/convert_bench.py && $(PY) benchmarks/dm_bench.py && $(PY) benchmarks/report.py

# Puts the tables of the last `make bench` into README.md and docs/performance.md (no re-run).
bench-docs: $(DEPS_STAMP)
	$(PY) benchmarks/report.py --splice

# Optional: LiberTEM in its own venv, so that `make bench` can compare against it side by side.
bench-libertem:
	$(PYTHON) -m venv .venv-libertem
	.venv-libertem/bin/python -m pip install --quiet --upgrade pip
	.venv-libertem/bin/python -m pip install --quiet libertem==0.16.0 hdf5plugin==7.1.0

clean:
	rm -rf $(VENV) target
