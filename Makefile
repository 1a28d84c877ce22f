# The verbs people type. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The main job on shipped sample input (no Pi needed): photos and a video, annotated.
demo: setup
	mkdir -p $(OUT)
	$(VENV)/bin/pi-coach analyze samples/photos --annotate $(OUT)/photos
	$(VENV)/bin/pi-coach analyze samples/video/stepping.webm --step 2 --annotate $(OUT)/stepping.gif

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m tools.bench pipeline

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis
