#!/bin/bash
# pi-coach's first boot, put on the SD card's boot partition by `make flash` (deploy/flash.py).
# Raspberry Pi OS Bookworm runs it once as root, as Raspberry Pi Imager's firstrun.sh is run:
# cmdline.txt ends with "systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot
# systemd.unit=kernel-command-line.target". Images with cloud-init run it from user-data's runcmd
# instead (--cloud-init: cloud-init has set the hostname, the user and SSH already).
# It sets the hostname, the instructor's account (SSH key only, no password), hardens sshd, installs
# the bundle from the boot partition, then takes itself off the kernel command line. Whatever
# fails is logged to pi-coach-firstboot.log on the boot partition (readable from any computer),
# and the box still boots normally so it can be reached over SSH.
set -uo pipefail

BOOT=/boot/firmware
[ -d "$BOOT" ] || BOOT=/boot
MODE=${1:-firstrun}
exec >>"$BOOT/pi-coach-firstboot.log" 2>&1
echo "== pi-coach first boot ($MODE), $(date)"

# PI_COACH_HOSTNAME, PI_COACH_USER, PI_COACH_SSH_KEY, PI_COACH_WIFI_SSID/PASSWORD/COUNTRY
# shellcheck source=/dev/null
. "$BOOT/pi-coach-firstboot.conf"

set_hostname() {
    if [ -x /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
        /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname "$PI_COACH_HOSTNAME"
    else
        local old
        old=$(cat /etc/hostname)
        echo "$PI_COACH_HOSTNAME" >/etc/hostname
        sed -i "s/127\.0\.1\.1.*$old/127.0.1.1\t$PI_COACH_HOSTNAME/g" /etc/hosts
    fi
}

# The first user (uid 1000, "pi" in older images) becomes the instructor's account, with no
# password at all ("*": nothing to guess) and sudo without one; they log in with their key.
set_user() {
    local first
    first=$(getent passwd 1000 | cut -d: -f1 || true)
    if [ -x /usr/lib/userconf-pi/userconf ]; then
        /usr/lib/userconf-pi/userconf "$PI_COACH_USER" '*'   # renames the first user, ends the setup wizard
    elif [ -z "$first" ]; then
        useradd -m -u 1000 -s /bin/bash "$PI_COACH_USER"
    elif [ "$first" != "$PI_COACH_USER" ]; then
        usermod -l "$PI_COACH_USER" "$first"
        usermod -m -d "/home/$PI_COACH_USER" "$PI_COACH_USER"
        groupmod -n "$PI_COACH_USER" "$first"
    fi
    usermod -p '*' "$PI_COACH_USER"
    for group in sudo adm video i2c gpio; do
        getent group "$group" >/dev/null && usermod -aG "$group" "$PI_COACH_USER"
    done
    rm -f /etc/sudoers.d/010_pi-nopasswd
    echo "$PI_COACH_USER ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/010_pi-coach-nopasswd
    chmod 0440 /etc/sudoers.d/010_pi-coach-nopasswd
}

set_ssh() {
    local home
    home=$(getent passwd "$PI_COACH_USER" | cut -d: -f6)
    install -d -m 0700 -o "$PI_COACH_USER" -g "$PI_COACH_USER" "$home/.ssh"
    printf '%s\n' "$PI_COACH_SSH_KEY" >"$home/.ssh/authorized_keys"
    chown "$PI_COACH_USER:$PI_COACH_USER" "$home/.ssh/authorized_keys"
    chmod 0600 "$home/.ssh/authorized_keys"
    install -d /etc/ssh/sshd_config.d
    cat >/etc/ssh/sshd_config.d/pi-coach.conf <<EOF
# pi-coach: keys only (the instructor's, from make flash); no passwords, no root
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PubkeyAuthentication yes
EOF
    systemctl enable ssh
}

set_wifi() {
    # Without a network named at flash time, config.txt has dtoverlay=disable-wifi.
    [ -n "${PI_COACH_WIFI_SSID:-}" ] || return 0
    if command -v raspi-config >/dev/null; then raspi-config nonint do_wifi_country "$PI_COACH_WIFI_COUNTRY"; fi
    local file="/etc/NetworkManager/system-connections/pi-coach-wifi.nmconnection"
    install -D -m 0600 /dev/null "$file"
    cat >"$file" <<EOF
[connection]
id=pi-coach-wifi
type=wifi
autoconnect=true
[wifi]
mode=infrastructure
ssid=$PI_COACH_WIFI_SSID
[wifi-security]
key-mgmt=wpa-psk
psk=$PI_COACH_WIFI_PASSWORD
[ipv4]
method=auto
[ipv6]
method=auto
EOF
}

if [ "$MODE" != --cloud-init ]; then
    set_hostname || echo "pi-coach: setting the hostname failed"
    set_user || echo "pi-coach: setting up the user $PI_COACH_USER failed"
    set_ssh || echo "pi-coach: setting up SSH failed"
    set_wifi || echo "pi-coach: setting up Wi-Fi failed"
fi
if bash "$BOOT/pi-coach-bundle/install.sh" --no-start; then
    usermod -aG pi-coach "$PI_COACH_USER"
    rm -rf "$BOOT/pi-coach-bundle"   # installed: give the boot partition its space back
    echo "pi-coach: installed"
else
    echo "pi-coach: the install failed; the bundle stays in $BOOT/pi-coach-bundle (see above)"
fi

# As Imager's firstrun.sh ends: never again, and the settings file (it may hold a Wi-Fi password) goes.
rm -f "$BOOT/pi-coach-firstboot.conf" "$BOOT/firstrun.sh"
sed -i 's| systemd.run.*||g' "$BOOT/cmdline.txt"
exit 0
