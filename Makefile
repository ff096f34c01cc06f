# Two commands on a fresh clone:
#   make reproduce   # the main job: set up .venv, generate data, run every notebook (full mode)
#   make test        # set up .venv, run the unit tests and execute the notebooks (quick mode, nbval)
# Every target bootstraps the virtual environment on first use.
# The interactive loss-landscape explorer:
#   make explorer    # serve notebooks/explorer.ipynb as a web page with Voila (http://localhost:8866)
#   make lab         # open the study in JupyterLab

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test,baselines,notebooks,web
DATA := data/harmonic_sr16000_n4000_seed0.pt
EXPLORER_PORT ?= 8866

.PHONY: reproduce test data notebooks venv clean-venv browser explorer lab

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3.11 python3.11-venv; }
	$(PYTHON) -m venv $(VENV)
	# torch/torchaudio are pinned in pyproject.toml; plain pip resolves them to the pinned wheels.
	$(VENV)/bin/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Debian's chromium, driven by the browser test of the explorer (tests/test_explorer_browser.py)
# through Playwright; installed on first use, no Playwright browser download.
browser:
	@command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

test: $(STAMP) browser
	$(PY) -m pytest -q tests --nbval-lax $(wildcard notebooks/[0-9][0-9]_*.ipynb)

data: $(DATA)

$(DATA): $(STAMP)
	$(PY) -m sot_utils.data --seed 0 --out $(DATA)

notebooks: $(STAMP)
	$(PY) -m sot_utils.run_notebooks

reproduce: $(STAMP) data notebooks

explorer: $(STAMP)
	$(PY) -m voila notebooks/explorer.ipynb --port=$(EXPLORER_PORT) --no-browser

# jupyter refuses to run as root without --allow-root (containers)
lab: $(STAMP)
	$(PY) -m jupyterlab $(if $(filter 0,$(shell id -u)),--allow-root)

clean-venv:
	rm -rf $(VENV)
