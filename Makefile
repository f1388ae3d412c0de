# Two commands for a new user: `make book` and `make test` (both install first when needed).
# With conda (see README): `make test VENV= PYTHON=python` uses the active environment instead of .venv.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS := constraints.txt

ifeq ($(strip $(VENV)),)
BIN :=
PY := $(PYTHON)
STAMP := .installed-stamp
else
BIN := $(VENV)/bin/
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
endif

NOTEBOOKS := $(wildcard notebooks/*.py)
BUILD := _build

.PHONY: setup book test unit book-strict browser clean help constraints

help:
	@echo "make book   build the book (executes the notebooks) into $(BUILD)/html"
	@echo "make test   unit tests, every notebook at small parameters, strict book build, browser check"
	@echo "make setup  create $(VENV) and install the pinned versions of $(CONSTRAINTS)"

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) requirements-data.txt
ifneq ($(strip $(VENV)),)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
endif
	$(PY) -m pip install --upgrade --quiet "pip>=23"
	# torch first, alone and exact: a looser spec would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) "torch==2.13.0"
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[book,test]"
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@

book: $(STAMP)
	$(BIN)jupyter-book build .
	@echo "open $(BUILD)/html/index.html"

test: unit book-strict browser

unit: $(STAMP)
	$(PY) -m pytest -m "not browser and not built_book" -q

# warnings are errors; a notebook that fails to execute fails the build
book-strict: $(STAMP)
	$(BIN)jupyter-book build . -W --keep-going

# the rendered book in Chromium, and the chapters' default runs the book build wrote against the committed claims
browser: $(STAMP)
	$(PY) -m pytest -m "browser or built_book" -q

clean:
	rm -rf $(BUILD) .pytest_cache

# after adding a dependency to pyproject.toml: install it into .venv, then freeze the exact versions
constraints: $(STAMP)
	@{ echo "# Exact versions CI and 'make setup' install (pip install -c constraints.txt). Regenerate with 'make constraints'."; \
	   echo "# torch 2.13.0 is the CPU wheel; any other torch spec downloads a multi-GB CUDA build."; \
	   $(PY) -m pip freeze --exclude-editable | grep -v '^fortifai' | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > $(CONSTRAINTS)
