# Two commands do everything on a fresh machine (each creates .venv first when missing):
#   make book   -> executes the chapters with PROFILE (default: default) and renders _build/html
#   make test   -> unit tests (pytest) + notebook regression tests (nbval on notebooks/)
# Other targets: make notebooks (refresh stored smoke outputs), make bench, make clean.

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= default
# chapters executed at the same time by `make book` / `make notebooks` (each in its own
# process; the default profile runs each chapter on one torch thread)
JOBS    ?= 2
PY      := $(VENV)/bin/python
# pytest-xdist workers for the test targets (one per core; `make test PYTEST_WORKERS=0` runs
# in one process). Notebooks are distributed whole (--dist loadfile): a notebook's cells run
# in order in one kernel.
PYTEST_WORKERS ?= auto
XDIST   := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
STAMP   := $(VENV)/.installed

.DELETE_ON_ERROR:
.PHONY: book test unit nbval nbval-portable nbval-all notebooks bench bench-training scorecard check clean env

# Idempotent environment: re-installed only when pyproject.toml changes.
# torch and torchvision are pinned in pyproject.toml and installed in this one call:
# scripts/install_env.sh installs with uv (pip when uv cannot be had; INSTALLER=pip forces it).
$(STAMP): pyproject.toml scripts/install_env.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_env.sh $(PY)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	touch $(STAMP)

env: $(STAMP)

# BOOK_CACHE=DIR: a results folder whose cache entries the book starts from (copied into the
# profile's results folder, `--cache-from`; every cell still runs and each entry is verified
# when read). CI passes what the nbval pass under the current settings kept (NBVAL_KEEP).
BOOK_CACHE ?=
book: $(STAMP)
	$(PY) -m goldilocks_nb.book build --profile $(PROFILE) --jobs $(JOBS) $(if $(BOOK_CACHE),--cache-from $(BOOK_CACHE))

# NBVAL_PASSES=nbval-all (CI) runs the three portability passes with the nbval pass, in one
# pool of jobs (see nbval-portable below).
NBVAL_PASSES ?= nbval
test: unit $(NBVAL_PASSES)

# With pytest-xdist each worker runs torch (and OpenMP/BLAS) on one thread: two workers of
# two threads each on two cores spin-wait on each other (tests/test_training.py and
# test_curvature_rescaling.py: 104 s CPU and 276 s wall with the default threads, 63 s CPU
# and 168 s wall with one, at load average 5-7).
# The unit tests are distributed one by one (--dist worksteal: an idle worker takes tests
# queued for the other), not file by file: a few files (test_readme, test_book, test_faults,
# test_training_dask) hold half of the suite's CPU time, in subprocesses and kernels; given
# whole files, one worker can be left with most of it.
UNIT_THREADS := $(if $(XDIST),OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
UNIT_XDIST   := $(if $(XDIST),-n $(PYTEST_WORKERS) --dist worksteal)
unit: $(STAMP)
	$(UNIT_THREADS) $(PY) -m pytest tests -q -m "not browser" $(UNIT_XDIST)

# The stored notebooks run with their smoke parameters; GOLDILOCKS_RESULTS_DIR sends what
# they write (claims, figures, cache) to a fresh temporary folder, never the checkout's
# results/ (tests never write into book/, results/ or _build/; every run recomputes).
nbval: $(STAMP)
	@tmp=$$(mktemp -d) && GOLDILOCKS_RESULTS_DIR=$$tmp/smoke \
	  $(PY) -m pytest --nbval-lax --nbval-current-env notebooks -q $(XDIST); \
	  status=$$?; rm -rf $$tmp; exit $$status

# The stored outputs must hold on other CPUs and BLAS code paths too: these settings make
# MKL and ATen take the code paths of other machines. scripts/nbval_passes.py runs one pass
# per setting, every (setting, notebook) pair as one job, NBVAL_JOBS at a time, longest
# first (the passes share the cores instead of each waiting for its slowest notebook); each
# pass writes into its own fresh temporary results folder, so every pass really recomputes.
# `make nbval-all` (CI) adds the pass under the current settings (what `make nbval` runs);
# NBVAL_KEEP=DIR keeps what that pass wrote (claims, figures, cache) in DIR when every job
# passed (opt-in; CI gives a temporary folder outside the checkout, whose cache the smoke
# book then starts from: `make book BOOK_CACHE=DIR`; no test run writes into results/).
NBVAL_ENVS := MKL_CBWR=COMPATIBLE MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=default
NBVAL_JOBS ?= $(if $(filter auto,$(PYTEST_WORKERS)),$(shell nproc 2>/dev/null || echo 2),$(if $(filter 0,$(PYTEST_WORKERS)),1,$(PYTEST_WORKERS)))
nbval-portable: $(STAMP)
	$(PY) scripts/nbval_passes.py --jobs $(NBVAL_JOBS) $(NBVAL_ENVS)

nbval-all: $(STAMP)
	$(PY) scripts/nbval_passes.py --jobs $(NBVAL_JOBS) $(if $(NBVAL_KEEP),--keep-results $(NBVAL_KEEP)) - $(NBVAL_ENVS)

check: $(STAMP)
	$(PY) -m goldilocks_nb.book check --profile $(PROFILE)

notebooks: $(STAMP)
	$(PY) -m goldilocks_nb.book store --jobs $(JOBS)

scorecard: $(STAMP)
	$(PY) -m goldilocks_nb.book scorecard --profile $(PROFILE)

bench: $(STAMP)
	$(PY) benchmarks/bench_curvature.py

bench-training: $(STAMP)
	$(PY) benchmarks/bench_training.py

clean:
	rm -rf _build book/chapters book/scorecard.md results
