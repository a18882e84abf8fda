# Two commands take a fresh clone to results: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Use the shared copies of the paper's data sets when they sit beside the checkout.
ALDEN_DATA ?= $(shell [ -d ../shared/datasets ] && cd ../shared/datasets && pwd)
export ALDEN_DATA

.PHONY: demo test venv clean browser

$(BIN)/alden: pyproject.toml constraints.txt
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,web,encoders,neighbours]'
	touch $(BIN)/alden

# The browser tests of `alden serve` drive the OS's Chromium through its chromedriver
# (nothing downloads a browser). Installed here when missing and allowed (root with apt-get);
# otherwise this says what to install, and those tests skip saying why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (for the browser tests)"; \
		apt-get install -y -q chromium chromium-driver >/dev/null || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	else \
		echo "note: the browser tests need chromium and chromedriver on PATH; install them" \
		     "as root: apt-get install -y chromium chromium-driver (Debian/Ubuntu), or your" \
		     "system's chromium and chromedriver packages; until then those tests skip"; \
	fi

venv: $(BIN)/alden browser

demo: venv
	$(BIN)/alden demo --out runs/demo

test: venv
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
