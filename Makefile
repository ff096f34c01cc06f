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
REAL_NOTES := data/real_notes_sr16000.pt
SOUNDFONT := /usr/share/sounds/sf2/TimGM6mb.sf2
EXPLORER_PORT ?= 8866

.PHONY: reproduce test lint format data real-notes notebooks venv clean-venv browser soundfont explorer lab

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

# Debian's FluidSynth and General MIDI soundfont TimGM6mb, which render the real instrument notes
# (sot_utils/real_notes.py, tests/test_real_notes.py); installed on first use, without the
# recommended Qt front-end (qsynth) and second soundfont (FluidR3, 148 MB).
soundfont:
	@{ command -v fluidsynth >/dev/null && test -f $(SOUNDFONT); } || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fluidsynth timgm6mb-soundfont; }

test: $(STAMP) browser soundfont lint
	$(PY) -m pytest -q tests --nbval-lax $(wildcard notebooks/[0-9][0-9]_*.ipynb)

# ruff (configured in pyproject.toml): lint, and the formatter in check mode; `make format` applies it
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

data: $(DATA)

$(DATA): $(STAMP)
	$(PY) -m sot_utils.training.data --seed 0 --out $(DATA)

real-notes: $(REAL_NOTES)

# `soundfont` is order-only: it is phony, and the file should not be rendered again at every call
$(REAL_NOTES): $(STAMP) | soundfont
	$(PY) -m sot_utils.study.real_notes --soundfont $(SOUNDFONT) --out $(REAL_NOTES)

notebooks: $(STAMP)
	$(PY) -m sot_utils.study.run_notebooks

reproduce: $(STAMP) soundfont data real-notes notebooks

explorer: $(STAMP)
	$(PY) -m voila notebooks/explorer.ipynb --port=$(EXPLORER_PORT) --no-browser

# jupyter refuses to run as root without --allow-root (containers)
lab: $(STAMP)
	$(PY) -m jupyterlab $(if $(filter 0,$(shell id -u)),--allow-root)

# The benchmark suite (CPU sections; the gpu section where CUDA is available): writes
# benchmarks/results.json, benchmarks/results.md and benchmarks/scaling.png/.pdf. Options through
# BENCH_ARGS, e.g. make bench BENCH_ARGS="--only mss train_step" or BENCH_ARGS="--quick".
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP)
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
