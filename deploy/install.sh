#!/usr/bin/env bash
# pi-coach's offline installer, run from an unpacked bundle (python -m deploy.bundle):
#   sudo ./install.sh                 install or update this box, then restart the service
#   ./install.sh --root DIR           install into the file tree DIR instead of / (an image's root,
#                                     or a scratch root in the tests): the same steps, with
#                                     systemd-sysusers --root and systemctl --root, nothing started
# It checks every file against SHA256SUMS first and refuses a changed bundle before touching
# anything. Nothing is downloaded: pip runs with --no-index on the bundle's wheels. Each bundle is
# installed into its own venv under /opt/pi-coach-releases/; /opt/pi-coach is a symlink switched in
# one rename once the new venv is complete, so a failed update leaves the old one running.
set -euo pipefail

ROOT=/
PYTHON=python3
START=1
REPLACE_RULES=0
KEEP=3

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
trap 'echo "install.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() {
    cat <<EOF
usage: install.sh [--root DIR] [--python PYTHON] [--no-start] [--replace-rules]
  --root DIR       install into DIR instead of / (no service is started; units enabled with systemctl --root)
  --python PYTHON  the interpreter for the venv (default: python3; it must be the bundle's Python version)
  --no-start       do not restart the service (first boot: the box reboots afterwards)
  --replace-rules  make the bundle's rules and model the live ones even if the box has its own
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift 2 ;;
        --no-start) START=0; shift ;;
        --replace-rules) REPLACE_RULES=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$BUNDLE"

# 1. The bundle is exactly what was built: every listed file matches, none missing, none added.
[ -f SHA256SUMS ] || die "$BUNDLE has no SHA256SUMS: not a pi-coach bundle"
listed=$(cut -c67- SHA256SUMS | LC_ALL=C sort)
present=$(find . \( -type f -o -type l \) ! -path ./SHA256SUMS -printf '%P\n' | LC_ALL=C sort)
if [ "$listed" != "$present" ]; then
    diff <(echo "$listed") <(echo "$present") | sed -n 's/^< /  missing: /p; s/^> /  not in SHA256SUMS: /p' >&2 || true
    die "the bundle's files do not match its SHA256SUMS: refusing to install (nothing was changed)"
fi
if ! bad=$(sha256sum --check --strict --quiet SHA256SUMS 2>&1); then
    echo "$bad" >&2
    die "the bundle was changed or damaged since it was built: refusing to install (nothing was changed)"
fi

# 2. The bundle fits this Python and machine (its wheels are built for one of each).
read -r VERSION WANT_PY WANT_MACHINE < <("$PYTHON" -c 'import json; b = json.load(open("BUNDLE.json")); print(b["version"], b["python"], b["machine"])') \
    || die "cannot run $PYTHON to read BUNDLE.json"
HAVE_PY=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
HAVE_MACHINE=$(uname -m)
[ "$HAVE_PY" = "$WANT_PY" ] || die "this bundle is for Python $WANT_PY; $PYTHON is Python $HAVE_PY (Raspberry Pi OS Bookworm has 3.11)"
[ "$HAVE_MACHINE" = "$WANT_MACHINE" ] || die "this bundle is for $WANT_MACHINE; this machine is $HAVE_MACHINE"
"$PYTHON" -m venv --help >/dev/null 2>&1 || die "$PYTHON has no venv module: install python3-venv"

ROOT=${ROOT%/}   # "" for the real root, so "$ROOT/etc" is /etc
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    die "installing into / needs root: run it with sudo (or give --root DIR)"
fi
[ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
LIVE=$([ -z "$ROOT" ] && echo 1 || echo 0)   # 1: this is the running system

# 3. The venv: a new release directory per bundle, then the /opt/pi-coach link switched to it.
ID="$VERSION-$(sha256sum SHA256SUMS | cut -c1-12)"
RELEASES="$ROOT/opt/pi-coach-releases"
REL="$RELEASES/$ID"
if [ -f "$REL/.complete" ]; then
    say "release $ID is already installed: reusing it"
else
    rm -rf "$REL"
    mkdir -p "$RELEASES"
    say "creating the venv $REL (system site packages, for the OS's python3-picamera2)"
    "$PYTHON" -m venv --system-site-packages "$REL"
    say "installing $(grep -vc '^#' requirements.txt) wheels offline"
    # Only the bundle's wheels: no index, no config files, no find-links from the environment.
    env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
        PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$REL/bin/python" -m pip install --quiet --no-index --no-cache-dir --find-links "$BUNDLE/wheels" \
        -r requirements.txt
    mkdir -p "$REL/share/pi-coach"
    cp -r models rules config "$REL/share/pi-coach/"
    cp README.md BUNDLE.json "$REL/"
    touch "$REL/.complete"
fi
if [ -e "$ROOT/opt/pi-coach" ] && [ ! -L "$ROOT/opt/pi-coach" ]; then
    die "$ROOT/opt/pi-coach is a directory, not the release link: move it away first"
fi
ln -sfn "pi-coach-releases/$ID" "$ROOT/opt/pi-coach.new"
mv -Tf "$ROOT/opt/pi-coach.new" "$ROOT/opt/pi-coach"
say "/opt/pi-coach -> pi-coach-releases/$ID"
# keep the newest $KEEP releases (the live one always)
find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\n' | sort -rn | tail -n +$((KEEP + 1)) |
    while read -r _ old; do
        [ "$old" = "$ID" ] || rm -rf "${RELEASES:?}/$old"
    done
PI_COACH="$ROOT/opt/pi-coach/bin/pi-coach"

# 4. The service user and the pi-coach group (instructors join it), from the sysusers file.
install -D -m 0644 systemd/pi-coach.sysusers.conf "$ROOT/usr/lib/sysusers.d/pi-coach.conf"
if [ "$LIVE" = 1 ]; then
    systemd-sysusers /usr/lib/sysusers.d/pi-coach.conf
else
    mkdir -p "$ROOT/etc"
    systemd-sysusers --root="$ROOT" "$ROOT/usr/lib/sysusers.d/pi-coach.conf"
fi
GID=$(awk -F: '$1 == "pi-coach" { print $3 }' "$ROOT/etc/group" 2>/dev/null || true)
[ -n "$GID" ] || die "systemd-sysusers did not create the pi-coach group"

# 5. /etc/pi-coach: the config (kept if there is one), and the stores instructors write to.
install -d -m 0755 "$ROOT/etc/pi-coach"
install -d -o 0 -g "$GID" -m 2775 "$ROOT/etc/pi-coach/rules" "$ROOT/etc/pi-coach/models" "$ROOT/etc/pi-coach/profiles"
install -m 0644 config/config.toml "$ROOT/etc/pi-coach/config.toml.default"
if [ ! -e "$ROOT/etc/pi-coach/config.toml" ]; then
    install -m 0644 config/config.toml "$ROOT/etc/pi-coach/config.toml"
else
    say "kept $ROOT/etc/pi-coach/config.toml (the bundle's is config.toml.default)"
fi
for profile in rules/profiles/*.toml; do
    [ -e "$ROOT/etc/pi-coach/profiles/$(basename "$profile")" ] ||
        install -m 0664 -g "$GID" "$profile" "$ROOT/etc/pi-coach/profiles/"
done
# Sets are made group-writable (umask 002) so instructors can install the next ones.
if [ "$REPLACE_RULES" = 1 ] || [ ! -e "$ROOT/etc/pi-coach/rules/current" ]; then
    (umask 002 && "$PI_COACH" rules install --no-reload --store "$ROOT/etc/pi-coach/rules" rules/ballet)
else
    say "kept the live rule set (--replace-rules installs the bundle's)"
fi
if [ "$REPLACE_RULES" = 1 ] || [ ! -e "$ROOT/etc/pi-coach/models/current" ]; then
    (umask 002 && "$PI_COACH" models install --no-reload --store "$ROOT/etc/pi-coach/models" \
        --rules-store "$ROOT/etc/pi-coach/rules" models/moves.tflite)
else
    say "kept the live move model (--replace-rules installs the bundle's)"
fi
chgrp -R "$GID" "$ROOT/etc/pi-coach/rules" "$ROOT/etc/pi-coach/models"

# 6. I2C for the OLED, and the camera: raspi-config on a live Pi, else config.txt directly.
CONFIG_TXT=""
for f in "$ROOT/boot/firmware/config.txt" "$ROOT/boot/config.txt"; do
    if [ -f "$f" ]; then CONFIG_TXT=$f; break; fi
done
if [ "$LIVE" = 1 ] && command -v raspi-config >/dev/null; then
    raspi-config nonint do_i2c 0   # 0 = enable; also loads i2c-dev now
elif [ -n "$CONFIG_TXT" ]; then
    grep -q '^dtparam=i2c_arm=on' "$CONFIG_TXT" || printf '\n[all]\ndtparam=i2c_arm=on\n' >>"$CONFIG_TXT"
fi
if [ -n "$CONFIG_TXT" ]; then
    # Bookworm finds the camera by itself with camera_auto_detect=1 (its default config.txt has it)
    grep -q '^camera_auto_detect=1' "$CONFIG_TXT" || printf '\n[all]\ncamera_auto_detect=1\n' >>"$CONFIG_TXT"
    install -D -m 0644 /dev/stdin "$ROOT/etc/modules-load.d/pi-coach.conf" <<<"i2c-dev"
    say "I2C and camera enabled in $CONFIG_TXT (a reboot applies a change there)"
else
    say "no config.txt under $ROOT/boot: not a Raspberry Pi, I2C and camera left alone"
fi
if [ "$LIVE" = 1 ] && ! "$ROOT/opt/pi-coach/bin/python" -c 'import picamera2' 2>/dev/null; then
    say "warning: python3-picamera2 is missing (the camera will not open): sudo apt install python3-picamera2"
fi

# 7. The unit: installed, enabled, and (on the running system) restarted, which waits for READY.
install -D -m 0644 systemd/pi-coach.service "$ROOT/etc/systemd/system/pi-coach.service"
if [ "$LIVE" = 1 ]; then
    if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
    systemctl enable pi-coach.service
else
    systemctl --root="$ROOT" enable pi-coach.service
fi
if [ "$LIVE" = 1 ] && [ "$START" = 1 ] && [ -d /run/systemd/system ]; then
    say "restarting pi-coach (Type=notify: returns once the service says READY)"
    systemctl restart pi-coach.service || die "pi-coach did not start: journalctl -u pi-coach -n 50"
    say "pi-coach is $(systemctl is-active pi-coach.service)"
else
    say "service not started here (--root, --no-start or no running systemd)"
fi
say "pi-coach $VERSION installed: $ROOT/opt/pi-coach -> pi-coach-releases/$ID"
