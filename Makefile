# Two commands on a fresh clone:
#   make reproduce   # the main job: set up .venv, generate data, regenerate results
#   make test        # set up .venv and run the test suite
# Every target bootstraps the virtual environment on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test,baselines,notebooks
DATA := data/harmonic_sr16000_n4000_seed0.pt

.PHONY: reproduce test data venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3.11 python3.11-venv; }
	$(PYTHON) -m venv $(VENV)
	# torch/torchaudio are pinned in pyproject.toml; plain pip resolves them to the pinned wheels.
	$(VENV)/bin/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

data: $(DATA)

$(DATA): $(STAMP)
	$(PY) -m sot_utils.data --seed 0 --out $(DATA)

reproduce: $(STAMP) data

clean-venv:
	rm -rf $(VENV)
