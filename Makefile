# Two commands set everything up on a fresh machine with Python 3.11+ and make:
#   make run   -> .venv, the project, the Streamlit app on http://localhost:8501
#   make test  -> .venv, the project with its test extras, the whole suite (and lint)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test test-long lint bench golden clean chromium loadtest

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Reinstall only when pyproject.toml changes (stamp files make the second call fast).
$(VENV)/.run-stamp: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.test-stamp: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	touch $@

# Serves this machine only; for a classroom set ADDRESS=0.0.0.0 (README: serving a class).
ADDRESS ?= 127.0.0.1
PORT ?= 8501
run: $(VENV)/.run-stamp
	$(PY) -m streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# Debian's chromium for the browser test. As root it is installed when missing; in CI
# (CI=true) a failed install fails the build, elsewhere the browser test then skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		[ "$$CI" != true ]

test: $(VENV)/.test-stamp chromium
	$(PY) -m ruff check sim classroom tests app.py tools
	$(PY) -m ruff format --check sim classroom tests app.py tools
	$(PY) -m pytest

# The long tier: 20,000 fuzzed parameter sets instead of about 2,000.
test-long: $(VENV)/.test-stamp
	FLUOROSIM_FUZZ_EXAMPLES=20000 $(PY) -m pytest tests/test_fuzz.py

lint: $(VENV)/.test-stamp
	$(PY) -m ruff check sim classroom tests app.py tools
	$(PY) -m ruff format sim classroom tests app.py tools

bench: $(VENV)/.test-stamp
	$(PY) -m sim bench all

loadtest: $(VENV)/.test-stamp
	$(PY) tools/loadtest.py --sessions 30 --duration 60

golden: $(VENV)/.test-stamp
	$(PY) tests/test_golden.py --write

clean:
	rm -rf $(VENV) build *.egg-info
