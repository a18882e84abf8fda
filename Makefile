# Two commands take a fresh clone to results: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Use the shared copies of the paper's data sets when they sit beside the checkout.
ALDEN_DATA ?= $(shell [ -d ../shared/datasets ] && cd ../shared/datasets && pwd)
export ALDEN_DATA

.PHONY: demo test venv clean

$(BIN)/alden: pyproject.toml constraints.txt
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/alden

venv: $(BIN)/alden

demo: venv
	$(BIN)/alden demo --out runs/demo

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
