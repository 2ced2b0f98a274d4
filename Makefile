# Diffusion course: one-command set-up, tests, release, grading, benchmarks.
# Every target that needs Python creates .venv first when it is missing.

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
# torch is pinned to the build the course is tested with; override for another platform,
# e.g. make setup TORCH="torch torchvision". Intel Macs (Darwin x86_64) get the last torch with
# wheels for them, 2.2.2 (PyPI has no macOS x86_64 wheel after it), built against NumPy 1.x;
# 06's model export fails on it (README.md, Install).
TORCH    ?= torch==2.14.1 torchvision==0.29.1
TORCH_INTEL_MAC := torch==2.2.2 torchvision==0.17.2 numpy<2
ifeq ($(shell uname -sm 2>/dev/null),Darwin x86_64)
TORCH    := $(TORCH_INTEL_MAC)
endif
# where torch comes from: PyPI (default), or e.g. the far smaller CPU-only builds with
# make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu (used for the torch install only)
TORCH_INDEX ?=
STAMP    := $(VENV)/.installed

SUBMISSIONS ?=
ASSIGNMENT  ?=
WORKERS     ?=
ENGINE      ?=
PYTEST_ARGS ?=

export PATH := $(abspath $(BIN)):$(PATH)
# datasets: helpers/paths.py searches COURSE_DATA_DIR, then ../shared/data, then data/ (data_root_candidates)

.PHONY: setup test test-fast lab release grade bench judge clean help

help:
	@echo "make setup    create $(VENV) and install the course (editable) with grading + dev extras"
	@echo "make test     run the test suite (creates $(VENV) when missing)"
	@echo "make lab      start JupyterLab in notebooks/"
	@echo "make release  regenerate notebooks/ (student copies) from autograder/source/"
	@echo "make grade    grade the demo class, or SUBMISSIONS=<dir|zip> [ASSIGNMENT=<id>] [WORKERS=N] [ENGINE=slurm]"
	@echo "make bench    run the benchmarks and write bench/results/*.json"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(foreach p,$(TORCH),"$(p)")
	@# setuptools' "Editable installation" notice (a note that a folder named like a package in the
	@# working directory could shadow it, printed as a 10-line warning box on every install) is silenced
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

setup: $(STAMP)
	@$(PY) -c "import helpers, torch; print('helpers', helpers.__version__, '| torch', torch.__version__)"
ifeq ($(TORCH),$(TORCH_INTEL_MAC))
	@echo "Intel Mac: torch 2.2.2, the last torch for it; notebook 06 cannot export its model with it (README.md, Install)"
endif

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

lab: $(STAMP)
	cd notebooks && ../$(BIN)/jupyter lab

release: $(STAMP)
	$(PY) -m autograder release

grade: $(STAMP)
	$(PY) -m autograder grade $(if $(SUBMISSIONS),$(SUBMISSIONS),--demo) $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(ENGINE),--engine $(ENGINE))

bench: $(STAMP)
	$(PY) -m bench

judge: $(STAMP)
	$(PY) -m helpers.judge train --dataset mnist
	$(PY) -m helpers.judge train --dataset fashion
	$(PY) -m helpers.judge train --dataset flowers

clean:
	rm -rf grading bench/results .pytest_cache
