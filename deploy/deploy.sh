#!/usr/bin/env bash
# Update a running box over SSH (make deploy HOST=coach@coach-1.local): check the bundle here,
# copy it to the box, run its installer there (offline: pip --no-index), restart the service, which
# returns once it says READY (Type=notify), and report its state and `pi-coach status`.
#   deploy/deploy.sh HOST [BUNDLE]
# SSH_OPTS: extra ssh options (e.g. "-p 2222 -i ~/.ssh/coach"); REMOTE_ROOT: install into that
# directory on the box instead of / (tests); INSTALL_ARGS: more installer options (--replace-rules).
set -euo pipefail

HOST=${1:?usage: deploy.sh HOST [BUNDLE]   (e.g. coach@coach-1.local out/bundle)}
BUNDLE=${2:-out/bundle}
REMOTE_ROOT=${REMOTE_ROOT:-}
read -r -a SSH <<<"ssh -o BatchMode=yes ${SSH_OPTS:-}"
read -r -a EXTRA <<<"${INSTALL_ARGS:-}"

die() { echo "deploy: $*" >&2; exit 1; }
q() { printf '%q ' "$@"; }   # quote for the remote shell

[ -f "$BUNDLE/SHA256SUMS" ] || die "$BUNDLE is not a bundle (make bundle builds one)"
(cd "$BUNDLE" && sha256sum --check --strict --quiet SHA256SUMS) || die "$BUNDLE does not match its SHA256SUMS: rebuild it"
ID=$(sha256sum "$BUNDLE/SHA256SUMS" | cut -c1-12)
DIR=/var/tmp/pi-coach-bundle-$ID
T0=$(date +%s)

echo "deploy: copying $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)) to $HOST:$DIR"
tar -C "$BUNDLE" -cf - . | "${SSH[@]}" "$HOST" "rm -rf $DIR.part && mkdir -p $DIR.part && tar -xf - -C $DIR.part && rm -rf $DIR && mv $DIR.part $DIR"

ARGS=(--no-start)
[ -z "$REMOTE_ROOT" ] || ARGS+=(--root "$REMOTE_ROOT")
ARGS+=("${EXTRA[@]}")
echo "deploy: installing on $HOST"
# shellcheck disable=SC2016  # $(id -u) is for the remote shell
SUDO='$([ "$(id -u)" = 0 ] || echo sudo)'
"${SSH[@]}" "$HOST" "$SUDO bash $DIR/install.sh $(q "${ARGS[@]}") && rm -rf $DIR" ||
    die "the installer failed on $HOST (the service was not restarted; the bundle stays in $DIR)"

echo "deploy: restarting pi-coach on $HOST (returns when the service is READY)"
if ! "${SSH[@]}" "$HOST" "$SUDO systemctl restart pi-coach.service"; then
    "${SSH[@]}" "$HOST" "$SUDO journalctl -u pi-coach.service -n 30 --no-pager" >&2 || true
    die "pi-coach did not start on $HOST (journal above)"
fi
STATE=$("${SSH[@]}" "$HOST" "systemctl is-active pi-coach.service" || true)
[ "$STATE" = active ] || die "pi-coach on $HOST is $STATE after the restart"
echo "deploy: pi-coach on $HOST is $STATE ($(($(date +%s) - T0)) s)"
"${SSH[@]}" "$HOST" "$(q "$REMOTE_ROOT/opt/pi-coach/bin/pi-coach") status" || echo "deploy: (pi-coach status answered $?)"
