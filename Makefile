# gridplan: two commands set everything up on a fresh machine with Python 3.11.
#   make demo   create .venv, install (pinned), plan the bundled sample into out/demo
#   make test   install the test extras (pinned) and run the whole suite, notebooks included
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := requirements/constraints.txt

.PHONY: demo test install install-test bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/gridplan demo --out out/demo
	@echo "open out/demo/map.html in a browser"

test: install-test
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py

# Re-pin after changing dependencies: resolves everything in a scratch venv and writes the constraints.
lock:
	rm -rf /tmp/gridplan-lock && $(PYTHON) -m venv /tmp/gridplan-lock
	/tmp/gridplan-lock/bin/pip install -q -e '.[test,bench]'
	/tmp/gridplan-lock/bin/pip freeze --exclude-editable | grep -v '^gridplan' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) out .pytest_cache

serve: install
	$(BIN)/gridplan serve
