# Two commands set everything up on a fresh machine with Python 3.11+ and make:
#   make run   -> .venv, the project, the Streamlit app on http://localhost:8501
#   make test  -> .venv, the project with its test extras, the whole suite (and lint)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint bench golden clean chromium

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

run: $(VENV)/.run-stamp
	$(PY) -m streamlit run app.py --server.port 8501 --server.headless true \
		--browser.gatherUsageStats false

# Debian's chromium for the browser test (root only, e.g. CI); without it that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true

test: $(VENV)/.test-stamp chromium
	$(PY) -m ruff check sim tests app.py tools
	$(PY) -m ruff format --check sim tests app.py tools
	$(PY) -m pytest

lint: $(VENV)/.test-stamp
	$(PY) -m ruff check sim tests app.py tools
	$(PY) -m ruff format sim tests app.py tools

bench: $(VENV)/.test-stamp
	$(PY) -m sim bench all

golden: $(VENV)/.test-stamp
	$(PY) tests/test_golden.py --write

clean:
	rm -rf $(VENV) build *.egg-info
