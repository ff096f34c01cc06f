# Two commands on a fresh clone:
#   make reproduce   # the main job: set up .venv, generate data, run every notebook (full mode)
#   make test        # set up .venv, run the unit tests and execute the notebooks (quick mode, nbval)
# Every target bootstraps the virtual environment on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test,baselines,notebooks
DATA := data/harmonic_sr16000_n4000_seed0.pt

.PHONY: reproduce test data notebooks venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3.11 python3.11-venv; }
	$(PYTHON) -m venv $(VENV)
	# torch/torchaudio are pinned in pyproject.toml; plain pip resolves them to the pinned wheels.
	$(VENV)/bin/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests --nbval-lax $(wildcard notebooks/[0-9][0-9]_*.ipynb)

data: $(DATA)

$(DATA): $(STAMP)
	$(PY) -m sot_utils.data --seed 0 --out $(DATA)

notebooks: $(STAMP)
	$(PY) -m sot_utils.run_notebooks

reproduce: $(STAMP) data notebooks

clean-venv:
	rm -rf $(VENV)
