# One command each, on a fresh machine with Python 3.11:
#   make run    set up .venv if missing, install, start the explorer on the shipped default checkpoint
#   make test   set up .venv if missing, install, run the test suite
#   make check  the fast tier: no real MiniLM, no browser, no UMAP compile
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export NUMBA_THREADING_LAYER := omp

.PHONY: run test check bench setup clean checkpoints

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app/streamlit_app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest

check: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser"

bench: $(STAMP)
	$(PY) bench/step_time.py
	$(PY) bench/extract.py
	$(PY) bench/app.py
	$(PY) bench/realdev.py

clean:
	rm -rf $(VENV) runs

checkpoints: $(STAMP)
	bash scripts/build_default_checkpoints.sh
