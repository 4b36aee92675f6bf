# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: install
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) -m temcoco.demo

# Headless Chromium for the report test (Debian package; needs root, as CI has).
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser test will be skipped"

test: install browser
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) -m pytest -q

# Reduced sizes; the issue's sizes: $(PY) bench/scale.py --full
bench: install
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) bench/run.py
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) bench/scale.py

clean:
	rm -rf demo-archive demo-out .pytest_cache
