# geowarn: `make demo` runs it, `make test` tests it, `make install` sets up .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONSOLE := api/console

.PHONY: install system-deps demo test bench schemas lint clean

install: $(STAMP) $(CONSOLE)/dist/index.html

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# The consultation console (the page the API serves at /): npm packages, one bundle in dist/.
$(CONSOLE)/dist/index.html: $(CONSOLE)/package-lock.json $(CONSOLE)/build.mjs $(wildcard $(CONSOLE)/src/*)
	command -v npm >/dev/null || (apt-get update && apt-get install -y --no-install-recommends nodejs npm)
	cd $(CONSOLE) && npm ci --no-audit --no-fund && npm run build

demo: install
	$(VENV)/bin/geowarn demo

# Debian packages the tests use: gdal-bin's ogrinfo reads the OGC API as a GIS client would;
# chromium runs the console's browser tests (Playwright drives it; no browser download).
system-deps:
	command -v ogrinfo >/dev/null || (apt-get update && apt-get install -y --no-install-recommends gdal-bin)
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

test: install system-deps
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench.ingest

schemas: install
	$(VENV)/bin/geowarn schemas

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache $(CONSOLE)/node_modules $(CONSOLE)/dist
