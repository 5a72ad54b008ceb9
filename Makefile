# geowarn: `make demo` runs it, `make test` tests it, `make install` sets up .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench schemas lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/geowarn demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench.ingest

schemas: install
	$(VENV)/bin/geowarn schemas

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache
