# Every command a user needs. Each creates the virtualenv first if it is missing or stale.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-12)
STACK ?= us-east-1
# The function unit tests run on the Lambda runtime's Python (what the program deploys) when this
# machine has it, in a virtualenv of their own; else on the tools' Python with everything else.
RUNTIME := python3.13
RUNTIME_VENV := .venv-$(RUNTIME)
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed-$(shell cat requirements-functions.txt constraints.txt | sha256sum | cut -c1-12)

.PHONY: help venv test test-fast lint synth plan demo bench iam-check lock clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

# requirements-dev.txt includes requirements.txt (what `pulumi up` installs) and adds the test tools.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m localcloud.runtimes $(RUNTIME)
	@rm -f $(VENV)/.installed-* && touch $@

# No stamp without the runtime's Python: the note is printed each time, and the tests fall back.
$(RUNTIME_STAMP): requirements-functions.txt constraints.txt | $(STAMP)
	@python=$$($(PY) -m localcloud.runtimes --interpreter $(RUNTIME)); \
	if [ -z "$$python" ]; then \
	  echo "No $(RUNTIME) interpreter here: the function tests run on the tools' Python."; \
	else \
	  rm -rf $(RUNTIME_VENV) && $$python -m venv $(RUNTIME_VENV) && \
	  $(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    -r requirements-functions.txt -c constraints.txt && touch $@; \
	fi

venv: $(STAMP) $(RUNTIME_STAMP) ## create or update the virtualenvs (the tools'; the runtime's for the function tests)

# On the runtime's Python the function tests run beside the others, their output after theirs
# ($(1): their pytest options; $(2): the others'). Both groups are CPU-bound, so they share the
# two cores; the end-to-end tests, which mostly wait, come last (tests/conftest.py).
define beside
	@if [ -x $(RUNTIME_VENV)/bin/python ]; then \
	  mkdir -p .build && log=.build/function-tests.log; \
	  $(RUNTIME_VENV)/bin/python -m pytest tests/functions $(1) > $$log 2>&1 & functions=$$!; \
	  $(PY) -m pytest --ignore=tests/functions $(2); others=$$?; \
	  wait $$functions; status=$$?; \
	  echo "--- the function tests, on $$($(RUNTIME_VENV)/bin/python -V):"; cat $$log; \
	  [ $$others -eq 0 ] && [ $$status -eq 0 ]; \
	else \
	  $(PY) -m pytest $(1) $(2); \
	fi
endef

# The function tests carry the coverage of functions/.
test: $(STAMP) $(RUNTIME_STAMP) ## run every test, with coverage of functions/
	$(call beside,--cov --cov-report=term,)

# The end-to-end and browser tests start a local cloud; everything else runs in-process or in
# short-lived subprocesses (the program's synth): the loop to run while editing. No coverage
# here (it costs a third more time); `make test` measures it.
test-fast: $(STAMP) $(RUNTIME_STAMP) ## every test but the end-to-end and browser ones, without coverage (about 50 s)
	$(call beside,,--ignore=tests/e2e -m "not e2e and not browser")

lint: $(STAMP) ## ruff, formatting, mypy over the program and functions/, workflow schema check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

demo: $(STAMP) ## run the whole system locally, both regions (Ctrl-C stops it)
	$(PY) -m localcloud

synth: $(STAMP) ## print the stack's resource graph as JSON (STACK=us-east-1)
	@$(PY) -m tools.synth $(STACK)

# Every stack unless STACK is given. tools.plan exits 2 when the plan deletes or replaces data and
# 1 on error; make itself exits 2 for either (it says "make plan: <why>" on an error).
plan: $(STAMP) ## what this change does to each stack, offline, in Markdown (BASE=<git ref>, STACK=)
	@$(PY) -m tools.plan $(if $(BASE),--base $(BASE)) $(if $(filter command line environment,$(origin STACK)),--stack $(STACK))

bench: $(STAMP) ## measure on the local cloud; writes bench/report.md and bench/report.json (about 8 min)
	$(PY) -m bench $(BENCH_ARGS)

iam-check: $(STAMP) ## remove each statement of each function's role in turn; writes bench/iam-check.md (about 5 min)
	$(PY) -m bench.iam_check

lock: ## re-pin every transitive dependency of both requirements files into constraints.txt
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv && /tmp/lock-venv/bin/pip install -q -r requirements-dev.txt
	/tmp/lock-venv/bin/pip freeze > constraints.txt && rm -rf /tmp/lock-venv

clean: ## remove the virtualenv and build caches
	rm -rf $(VENV) $(RUNTIME_VENV) .build .localcloud .pytest_cache .ruff_cache .mypy_cache .coverage
