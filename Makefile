# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs slimnas, runs the whole road (demo.py) on the synthetic MVTec look-alike
#   make test   creates .venv if needed and runs the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test venv clean

# Byte-code is compiled once, on every core, after pip (pip compiles file by file, ~40 s): where
# PYTHONDONTWRITEBYTECODE is set (as on our CI machines) Python never caches it itself, and every process
# (each test subprocess, each demo step) then re-compiled torch & co. on import: 11 s instead of 4.6 s.
# -qq || true: a few files in torch's own test helpers are Python 3.12 syntax and do not compile on 3.11.
# torch's CUDA build alone is 5.5 GB in the venv: on a fuller disk pip dies halfway with "No space left on
# device" after minutes of unpacking; refuse up front with one line instead.
VENV_NEEDS_GB := 7

$(VENV)/.installed: requirements.txt code/pyproject.toml code/runtime/pyproject.toml
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); if [ "$$free" -lt $(VENV_NEEDS_GB) ]; then \
	  echo "make: $$free GB free on $$(df -P . | awk 'NR==2 {print $$6}'), the venv needs about $(VENV_NEEDS_GB) GB (torch's CUDA build is 5.5 GB): free some space and re-run" >&2; exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m pip install --quiet --no-compile --no-deps -e code/runtime -e code
	$(PY) -m compileall -qq -j 0 $(VENV)/lib code || true
	touch $@

venv: $(VENV)/.installed

# the demo keeps a 10-minute budget from here, the venv install included
demo: export SLIMNAS_DEMO_START := $(shell date +%s)
demo: venv
	$(PY) demo.py

test: venv
	$(PY) -m pytest -q -rs -n auto tests

clean:
	rm -rf $(VENV) runs
