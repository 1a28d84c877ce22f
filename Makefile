# The verbs people type. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out
# ansible-core, in its own venv: make deploy-fleet, and the playbook check in the tests
ANSIBLE := .cache/ansible/bin/ansible-playbook

.PHONY: setup demo test bench data clean system-packages wheelhouse bundle flash deploy deploy-fleet

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

test: $(VENV)/.synth system-packages $(ANSIBLE)
	$(PY) -m pytest -q

# Debian packages the tests use: chromium renders the session report (systemd-analyze and
# systemd-sysusers come with systemd); the deploy tests make disk images (fdisk's sfdisk, dosfstools,
# mtools, e2tools, e2fsprogs' debugfs, xz), run sshd on loopback and isolate the network (unshare).
# Installed with apt when missing (as root, or through sudo).
SYSTEM_TOOLS := chromium:chromium sfdisk:fdisk mkfs.vfat:dosfstools mcopy:mtools e2ls:e2tools \
	debugfs:e2fsprogs xz:xz-utils sshd:openssh-server ssh:openssh-client unshare:util-linux \
	systemd-analyze:systemd shellcheck:shellcheck
system-packages:
	@missing=$$(for t in $(SYSTEM_TOOLS); do PATH="$$PATH:/usr/sbin:/sbin" command -v $${t%%:*} >/dev/null || echo $${t#*:}; done); \
	[ -z "$$missing" ] || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing; }

bench: setup
	$(PY) -m tools.bench pipeline
	$(PY) -m tools.bench daemon

# A small synthetic dataset (a few hundred stills and clips) and how the rules do on its faults.
data: $(VENV)/.synth
	$(PY) -m tools.synth $(OUT)/synth-small --stills 400 --clips 40 --seed 0
	$(PY) -m tools.synth.check_rules $(OUT)/synth-small

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis

# --- the box: offline bundle, SD card, updates (README: "From a new SD card to a coaching box") ---
# PLATFORM=aarch64 (the Pi) or host (this machine: tests). The wheelhouse is downloaded once into
# .cache/ and reused until pyproject.toml changes.
PLATFORM ?= aarch64
WHEELHOUSE ?= .cache/wheelhouse/$(if $(filter host,$(PLATFORM)),$(shell uname -m),$(PLATFORM))
BUNDLE ?= out/bundle
BOX ?= coach-1
USER_NAME ?= coach
SSH_KEY ?= $(firstword $(wildcard $(HOME)/.ssh/id_ed25519.pub $(HOME)/.ssh/id_ecdsa.pub $(HOME)/.ssh/id_rsa.pub))
BUNDLE_SOURCES := pyproject.toml README.md $(shell find pi_coach rules models systemd deploy -type f ! -name '*.pyc' 2>/dev/null)

wheelhouse: $(WHEELHOUSE)/.complete
$(WHEELHOUSE)/.complete: pyproject.toml | setup
	$(PY) -m deploy.wheelhouse --platform $(PLATFORM) --dest $(WHEELHOUSE)

bundle: $(BUNDLE)/SHA256SUMS
$(BUNDLE)/SHA256SUMS: $(WHEELHOUSE)/.complete $(BUNDLE_SOURCES)
	$(PY) -m deploy.bundle --wheelhouse $(WHEELHOUSE) --out $(BUNDLE)

# make flash IMAGE=raspios-bookworm-arm64-lite.img.xz DEVICE=/dev/sdX [OUT=coach-1.img] [BOX=coach-1]
#   [SSH_KEY=~/.ssh/id_ed25519.pub] [USER_NAME=coach] [WIFI_SSID=... WIFI_PASSWORD=... WIFI_COUNTRY=GB] [FORCE=1]
# Only writing to DEVICE needs root (sudo make flash ...); OUT= alone makes the image file.
flash: $(BUNDLE)/SHA256SUMS
	@[ -n "$(IMAGE)" ] || { echo "make flash: IMAGE=raspios-bookworm-arm64-lite.img[.xz] is needed"; exit 2; }
	@[ -n "$(SSH_KEY)" ] || { echo "make flash: SSH_KEY=~/.ssh/id_ed25519.pub is needed (ssh-keygen -t ed25519 makes one)"; exit 2; }
	$(PY) -m deploy.flash --image "$(IMAGE)" --bundle $(BUNDLE) --hostname $(BOX) --user $(USER_NAME) --ssh-key "$(SSH_KEY)" \
		$(if $(filter command line,$(origin OUT)),--out "$(OUT)") $(if $(DEVICE),--device "$(DEVICE)") \
		$(if $(WIFI_SSID),--wifi-ssid "$(WIFI_SSID)" --wifi-password "$(WIFI_PASSWORD)" --wifi-country "$(or $(WIFI_COUNTRY),GB)") \
		$(if $(FORCE),--force)

# make deploy HOST=coach@coach-1.local [SSH_OPTS="-i ~/.ssh/coach"] [INSTALL_ARGS=--replace-rules]
deploy: $(BUNDLE)/SHA256SUMS
	@[ -n "$(HOST)" ] || { echo "make deploy: HOST=coach@coach-1.local is needed"; exit 2; }
	bash deploy/deploy.sh "$(HOST)" $(BUNDLE)

# make deploy-fleet INVENTORY=studio.ini [BATCH=2]: every box in the inventory's pi_coach group
deploy-fleet: $(BUNDLE)/SHA256SUMS $(ANSIBLE)
	@[ -n "$(INVENTORY)" ] || { echo "make deploy-fleet: INVENTORY=deploy/ansible/inventory.example.ini (a copy with your boxes)"; exit 2; }
	$(ANSIBLE) -i "$(INVENTORY)" deploy/ansible/pi-coach.yml -e bundle=$(abspath $(BUNDLE)) \
		$(if $(BATCH),-e batch=$(BATCH)) $(if $(INSTALL_ARGS),-e install_args="$(INSTALL_ARGS)")

# ansible-core in its own venv (kept apart from .venv): deploy-fleet, and the playbook's syntax check in the tests
$(ANSIBLE):
	$(PYTHON) -m venv .cache/ansible
	.cache/ansible/bin/pip install --quiet ansible-core
