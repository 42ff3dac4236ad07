# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs slimnas, runs the whole road (demo.py) on the synthetic MVTec look-alike
#   make test   creates .venv if needed and runs the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test venv clean

# --no-compile: byte-compiling every installed file (torch's thousands) took ~40 s of the install; Python
# compiles the modules it imports on first use instead (measured: no slower first import).
$(VENV)/.installed: requirements.txt code/pyproject.toml code/runtime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m pip install --quiet --no-compile --no-deps -e code/runtime -e code
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) demo.py

test: venv
	$(PY) -m pytest -q -rs -n auto tests

clean:
	rm -rf $(VENV) runs
