# The README's commands. Everything installs into .venv; nothing is global.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: setup demo test test-fast lint lab student bench clean

setup: $(STAMP)

# Test for pip, not python: without Debian's python3-venv, `venv` leaves python but no pip.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

## make demo: the main job on embedded data (no network).
demo: setup
	$(PY) -m grader demo --course course

## make test: set up, then run the whole suite (slow tests included).
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

## make lab: JupyterLab on the instructor tree (127.0.0.1 only).
lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 notebooks

## make student: a self-study workspace in ./student.
student: setup
	$(PY) -m grader student --out student

## make bench: performance ratios (single thread), JSON in bench/results/.
bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) course student .pytest_cache .hypothesis
