# The verbs people type. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup demo test bench data clean system-packages

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The desktop extras: the synthetic studio (anny, torch 2.13.0 CPU, warp-lang) and training
# (tensorflow-cpu 2.18): for tests, datasets and models.
$(VENV)/.synth: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,synth,train]'
	touch $@

# The main job on shipped sample input (no Pi needed): the coach itself on the sample video, with
# the OLED emulated (out/oled.gif) and the buzzer on gpiozero's mock pins; then photos and the
# video analysed and annotated.
demo: setup
	mkdir -p $(OUT)
	GPIOZERO_PIN_FACTORY=mock $(VENV)/bin/pi-coach run --source samples/video/stepping.webm \
		--display emulator --emulator-output $(OUT)/oled.gif --state-dir $(OUT)/state
	$(VENV)/bin/pi-coach analyze samples/photos --annotate $(OUT)/photos
	$(VENV)/bin/pi-coach analyze samples/video/stepping.webm --step 2 --annotate $(OUT)/stepping.gif

test: $(VENV)/.synth system-packages
	$(PY) -m pytest -q

# Debian packages the tests use: chromium renders the session report (systemd-analyze and
# systemd-sysusers come with systemd). Installed with apt when missing (as root, or through sudo).
system-packages:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

bench: setup
	$(PY) -m tools.bench pipeline
	$(PY) -m tools.bench daemon

# A small synthetic dataset (a few hundred stills and clips) and how the rules do on its faults.
data: $(VENV)/.synth
	$(PY) -m tools.synth $(OUT)/synth-small --stills 400 --clips 40 --seed 0
	$(PY) -m tools.synth.check_rules $(OUT)/synth-small

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis
