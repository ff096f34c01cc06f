# Two commands on a fresh clone:
#   make reproduce   # the main job: set up .venv, generate data, run every notebook (full mode)
#   make test        # set up .venv, run the unit tests and execute the notebooks (quick mode, nbval)
# Every target bootstraps the virtual environment on first use.
# The interactive loss-landscape explorer:
#   make explorer    # serve notebooks/explorer.ipynb as a web page with Voila (http://localhost:8866)
#   make estimator   # the trained estimators' page, notebooks/estimator_explorer.ipynb (http://localhost:8867)
#   make lab         # open the study in JupyterLab
# The study as a book: make book (a static site in build/book/, opened with no network).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test,baselines,notebooks,web,docs
DATA := data/harmonic_sr16000_n4000_seed0.pt
REAL_NOTES := data/real_notes_sr16000.pt
SOUNDFONT := /usr/share/sounds/sf2/TimGM6mb.sf2
REAL_NOTES_FREEPATS := data/real_notes_freepats_sr16000.pt
REAL_CORPUS := data/real_corpus_timgm6mb_sr16000_seed0.pt
RICH_TONES := data/rich_tones_sr16000_n4000_seed0.pt
FREEPATS_CFG := /etc/timidity/freepats.cfg
EXPLORER_PORT ?= 8866
ESTIMATOR_PORT ?= 8867

.PHONY: reproduce test lint format data real-notes notebooks venv clean-venv browser soundfont explorer lab
.PHONY: freepats real-notes-freepats real-corpus rich-tones
.PHONY: estimator
.PHONY: book mathjax check-reproduce

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3.11 python3.11-venv; }
	$(PYTHON) -m venv $(VENV)
	# torch/torchaudio are pinned in pyproject.toml; plain pip resolves them to the pinned wheels.
	$(VENV)/bin/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Debian's chromium, driven by the browser test of the explorer (tests/study/test_explorer_browser.py)
# through Playwright; installed on first use, no Playwright browser download.
browser:
	@command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Debian's FluidSynth and General MIDI soundfont TimGM6mb, which render the real instrument notes
# (sot_utils/real_notes.py, tests/study/test_real_notes.py); installed on first use, without the
# recommended Qt front-end (qsynth) and second soundfont (FluidR3, 148 MB).
soundfont:
	@{ command -v fluidsynth >/dev/null && test -f $(SOUNDFONT); } || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fluidsynth timgm6mb-soundfont; }

# Debian's FreePats patch set and the TiMidity++ player that renders it: a second real-note set,
# independent of the training soundfont (sot_utils/study/freepats.py, tests/study/test_freepats.py).
# Installed on first use without the soundfont package that timidity recommends, which this project
# never uses: the renderer reads only the freepats package's own config.
freepats:
	@{ command -v timidity >/dev/null && test -f $(FREEPATS_CFG); } || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends timidity freepats; }

test: $(STAMP) browser soundfont freepats lint book
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

# The FreePats notes, a held-out set for evaluation only (notebook 10)
real-notes-freepats: $(REAL_NOTES_FREEPATS)

$(REAL_NOTES_FREEPATS): $(STAMP) | freepats
	$(PY) -m sot_utils.study.freepats --out $(REAL_NOTES_FREEPATS)

# Not part of `make reproduce` (yet): the unlabeled real-note training corpus (TimGM6mb, split by instrument)
real-corpus: $(REAL_CORPUS)

$(REAL_CORPUS): $(STAMP) | soundfont
	$(PY) -m sot_utils.study.real_corpus --seed 0 --out $(REAL_CORPUS)

# Not part of `make reproduce` (yet): synthetic tones closer to real notes, the comparison corpus
rich-tones: $(RICH_TONES)

$(RICH_TONES): $(STAMP)
	$(PY) -m sot_utils.study.rich_tones --seed 0 --size 4000 --out $(RICH_TONES)

# NOTEBOOK_ARGS, e.g. "--only 01 02", passes options to the runner; NOTEBOOK_JOBS notebooks run at a
# time. One at a time (the default), each kernel uses every core: on 2 cores its landscapes, fits and
# peers ran 1.7x, 1.9x and 1.7x faster with two threads than with one. With NOTEBOOK_JOBS=2 each
# kernel gets one thread (two kernels of two threads each slow each other down).
NOTEBOOK_ARGS ?=
NOTEBOOK_JOBS ?= 1
notebooks: $(STAMP)
	$(PY) -m sot_utils.study.run_notebooks --jobs $(NOTEBOOK_JOBS) $(NOTEBOOK_ARGS)

reproduce: $(STAMP) soundfont data real-notes real-notes-freepats notebooks

# Voila with its lab template less the icon fonts it fetches from a CDN (notebooks/jupyter/voila/
# templates/offline): the pages load nothing from the network. The template's script refuses an
# upload over 50 MB in the browser; notebooks/jupyter/voila.json caps each websocket message at 51 MB
# (tornado's websocket_max_message_size; its default, 10 MB, cut uploads of 10-50 MB off), so that
# a client bypassing the page cannot push more into the server or the kernel.
VOILA := JUPYTER_PATH=$(CURDIR)/notebooks/jupyter JUPYTER_CONFIG_PATH=$(CURDIR)/notebooks/jupyter \
	$(PY) -m voila --template=offline --no-browser

explorer: $(STAMP)
	$(VOILA) notebooks/explorer.ipynb --port=$(EXPLORER_PORT)

# uses data/ and checkpoints/ as they are (the test tones without `make data`: a 400-tone stand-in set)
estimator: $(STAMP)
	$(VOILA) notebooks/estimator_explorer.ipynb --port=$(ESTIMATOR_PORT)

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

# The book (docs/conf.py): the executed notebooks of results/notebooks/ (rendered, not re-executed)
# and the docs pages, as a static site in build/book/. MathJax 2 comes from Debian's libjs-mathjax
# (installed on first use); where a network namespace can be made (root), the build runs without
# network, which proves it needs none. Warnings are errors (broken links, images, references).
MATHJAX := /usr/share/javascript/mathjax/MathJax.js
OFFLINE := $(shell unshare -n true 2>/dev/null && echo unshare -n)
mathjax:
	@test -f $(MATHJAX) || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libjs-mathjax; }

book: $(STAMP) mathjax
	$(OFFLINE) $(PY) -m sphinx -q -W --keep-going -b html -c docs -d build/book-doctrees . build/book
	@echo "the book: build/book/index.html"

# On demand (about 50 minutes; not part of `make test`): clone the current commit into
# build/check-reproduce/, run `make reproduce` there and list the committed results (results/*.csv,
# results/*.md, figures/*.png by pixels) that differ. A smoke run: CHECK_ARGS="--quick".
CHECK_ARGS ?=
check-reproduce: $(STAMP)
	$(PY) -m sot_utils.study.check_reproduce $(CHECK_ARGS)

clean-venv:
	rm -rf $(VENV)
