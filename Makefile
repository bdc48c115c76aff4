# Two commands do everything on a fresh machine (each creates .venv first when missing):
#   make book   -> executes the chapters with PROFILE (default: default) and renders _build/html
#   make test   -> unit tests (pytest) + notebook regression tests (nbval on notebooks/)
# Other targets: make notebooks (refresh stored smoke outputs), make bench, make clean.

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= default
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.DELETE_ON_ERROR:
.PHONY: book test unit nbval notebooks bench scorecard clean env

# Idempotent environment: re-installed only when pyproject.toml changes.
# torch and torchvision are pinned in pyproject.toml and installed in this one pip call.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	touch $(STAMP)

env: $(STAMP)

book: $(STAMP)
	$(PY) -m goldilocks_nb.book build --profile $(PROFILE)

test: unit nbval

unit: $(STAMP)
	$(PY) -m pytest tests -q

nbval: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env notebooks -q

notebooks: $(STAMP)
	$(PY) -m goldilocks_nb.book store

scorecard: $(STAMP)
	$(PY) -m goldilocks_nb.book scorecard --profile $(PROFILE)

bench: $(STAMP)
	$(PY) benchmarks/bench_curvature.py

clean:
	rm -rf _build book/chapters book/scorecard.md results
