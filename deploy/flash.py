"""Make a Raspberry Pi OS image into a pi-coach box, and write it to an SD card.

``python -m deploy.flash --image raspios-bookworm-arm64-lite.img.xz --bundle out/bundle
--hostname coach-1 --ssh-key ~/.ssh/id_ed25519.pub (--out coach-1.img | --device /dev/sdX)``

The image the user has is never changed: it is copied (or unpacked from .xz) and the copy is
customised with no root and no mounting: mtools reads and writes the FAT boot partition at its
offset, sfdisk reads the partition table and debugfs looks into the ext4 root. On the boot
partition go the bundle, ``firstrun.sh`` with its settings (referenced from cmdline.txt, as
Raspberry Pi Imager does) or, for images with cloud-init, ``user-data``/``meta-data``/``network-config``.
Writing to a card refuses a mounted device, the system disk and anything bigger than an SD card
(unless forced), then reads the card back and compares checksums. Only that step needs root.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .bundle import BundleError, size as bundle_size, verify as verify_bundle

HERE = Path(__file__).resolve().parent
MAX_CARD = 256 * 2**30  # bigger than this is not an SD card (FORCE=1 to write anyway)
FIRSTRUN_ARGS = ("systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot "
                 "systemd.unit=kernel-command-line.target")
FAT_TYPES = {"b", "c", "e", "ef", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"}
LINUX_TYPES = {"83", "0fc63daf-8483-4772-8e79-3d69d8477de4", "b921b045-1df0-41c3-af44-4c6f280d3fae"}
TOOLS = {"sfdisk": "fdisk", "mcopy": "mtools", "mdir": "mtools", "mtype": "mtools", "mmd": "mtools",
         "debugfs": "e2fsprogs", "xz": "xz-utils"}
BLKFLSBUF = 0x1261  # linux/fs.h: flush a block device's buffer cache (so the read-back comes from the card)


class FlashError(RuntimeError):
    """A problem the user can fix: the message says what and how; nothing was written."""


@dataclass(frozen=True)
class Image:
    path: Path
    boot_offset: int
    boot_size: int
    root_offset: int

    @property
    def fat(self) -> str:
        return f"{self.path}@@{self.boot_offset}"

    @property
    def ext4(self) -> str:
        return f"{self.path}?offset={self.root_offset}"


def run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    tool = cmd[0]
    if not shutil.which(tool):
        raise FlashError(f"{tool} is missing: sudo apt-get install {TOOLS.get(tool, tool)}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"), **kw)
    if out.returncode != 0:
        raise FlashError(f"{what}: {(out.stderr or out.stdout).strip()}")
    return out


# --- the image file ---------------------------------------------------------------------------

def unpack(image: Path, out: Path) -> None:
    """Copy IMAGE (plain or .xz) to OUT, leaving IMAGE as it is."""
    if not image.is_file():
        raise FlashError(f"IMAGE {image}: no such file")
    if out.resolve() == image.resolve():
        raise FlashError(f"OUT {out} is IMAGE itself: give another name (the downloaded image is kept as it is)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(image, "rb") as f:
        magic = f.read(6)
    if magic == b"\xfd7zXZ\x00":
        with open(out, "wb") as dst:
            xz = subprocess.run(["xz", "-dc", str(image)], stdout=dst, stderr=subprocess.PIPE, text=False)
        if xz.returncode != 0:
            out.unlink(missing_ok=True)
            raise FlashError(f"IMAGE {image}: xz could not unpack it: {xz.stderr.decode().strip()}")
    else:
        shutil.copyfile(image, out)


def read_image(path: Path) -> Image:
    """The boot (FAT) and root (ext4) partitions of a Raspberry Pi OS image, or a clear refusal."""
    out = subprocess.run(["sfdisk", "--json", str(path)], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        raise FlashError(f"{path}: no partition table: not a Raspberry Pi OS image (.img or .img.xz)")
    table = json.loads(out.stdout)["partitiontable"]
    sector = table.get("sectorsize", 512)
    parts = table.get("partitions", [])
    boot = next((p for p in parts if p.get("type", "").lower() in FAT_TYPES), None)
    root = next((p for p in parts if p.get("type", "").lower() in LINUX_TYPES), None)
    if boot is None or root is None:
        kinds = ", ".join(p.get("type", "?") for p in parts) or "none"
        raise FlashError(f"{path}: expected a FAT boot partition and a Linux root partition, found partition types {kinds}: "
                         "not a Raspberry Pi OS image")
    img = Image(path, boot["start"] * sector, boot["size"] * sector, root["start"] * sector)
    names = fat_list(img)
    for needed in ("cmdline.txt", "config.txt"):
        if needed not in names:
            raise FlashError(f"{path}: the boot partition has no {needed}: not a Raspberry Pi OS image")
    return img


def fat_list(img: Image, folder: str = "/") -> set[str]:
    """File names in a folder of the boot partition (long names, as mdir -b prints them)."""
    out = run(["mdir", "-b", "-i", img.fat, f"::{folder}"], f"{img.path}: cannot read the boot partition (FAT)")
    return {line.rstrip("/").rsplit("/", 1)[-1] for line in out.stdout.splitlines() if line.strip()}


def fat_read(img: Image, name: str) -> str:
    return run(["mtype", "-i", img.fat, f"::/{name}"], f"reading {name} from the boot partition").stdout


def fat_write(img: Image, name: str, text: str, tmp: Path) -> None:
    src = tmp / name
    src.write_text(text)
    run(["mcopy", "-o", "-i", img.fat, str(src), f"::/{name}"], f"writing {name} to the boot partition")


def fat_free(img: Image) -> int:
    out = run(["mdir", "-i", img.fat, "::/"], "reading the boot partition").stdout
    m = re.search(r"([\d\s.,]+) bytes free", out)
    return int(re.sub(r"\D", "", m.group(1))) if m else 0


def root_has(img: Image, path: str) -> bool:
    """Whether the ext4 root file system has PATH (debugfs, read-only, no mounting)."""
    out = run(["debugfs", "-R", f"stat {path}", img.ext4], f"{img.path}: cannot read the root partition (ext4)")
    return "not found" not in out.stderr and "Inode:" in out.stdout


# --- customising ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    hostname: str
    user: str
    ssh_key: str
    wifi_ssid: str = ""
    wifi_password: str = ""
    wifi_country: str = "GB"


def check_settings(s: Settings) -> None:
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", s.hostname):
        raise FlashError(f"hostname {s.hostname!r}: use lower-case letters, digits and '-' (e.g. coach-1)")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", s.user) or s.user in ("root", "pi-coach"):
        raise FlashError(f"user {s.user!r}: a lower-case login name other than root and pi-coach")
    if not re.match(r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+", s.ssh_key) or "\n" in s.ssh_key:
        raise FlashError("the SSH key must be one public key line (the .pub file), e.g. ssh-ed25519 AAAA... you@laptop")
    if s.wifi_ssid and not s.wifi_password:
        raise FlashError("Wi-Fi: a network name needs its password too (WIFI_PASSWORD)")


def cmdline_with_firstrun(cmdline: str) -> str:
    """cmdline.txt (one line) with any earlier systemd.run hook replaced by ours."""
    line = " ".join(cmdline.split())
    line = re.sub(r"\s*systemd\.run.*$", "", line)
    line = " ".join(p for p in line.split() if not p.startswith("systemd.unit="))
    return f"{line} {FIRSTRUN_ARGS}\n"


def firstboot_conf(s: Settings) -> str:
    values = {"PI_COACH_HOSTNAME": s.hostname, "PI_COACH_USER": s.user, "PI_COACH_SSH_KEY": s.ssh_key,
              "PI_COACH_WIFI_SSID": s.wifi_ssid, "PI_COACH_WIFI_PASSWORD": s.wifi_password,
              "PI_COACH_WIFI_COUNTRY": s.wifi_country}
    return "# pi-coach first boot settings (make flash); firstrun.sh deletes this file\n" + "".join(
        f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def cloud_init_files(s: Settings) -> dict[str, str]:
    """user-data, meta-data and network-config for images that boot with cloud-init (JSON is YAML)."""
    user_data = {
        "hostname": s.hostname, "manage_etc_hosts": True, "ssh_pwauth": False, "disable_root": True,
        "users": [{"name": s.user, "groups": ["sudo", "adm", "video", "i2c", "gpio"], "shell": "/bin/bash",
                   "sudo": "ALL=(ALL) NOPASSWD:ALL", "lock_passwd": True, "ssh_authorized_keys": [s.ssh_key]}],
        "runcmd": [["bash", "/boot/firmware/firstrun.sh", "--cloud-init"]],
    }
    network = {"network": {"version": 2, "ethernets": {"eth0": {"dhcp4": True, "optional": True}}}}
    if s.wifi_ssid:
        network["network"]["wifis"] = {"wlan0": {"dhcp4": True, "optional": True, "regulatory-domain": s.wifi_country,
                                                 "access-points": {s.wifi_ssid: {"password": s.wifi_password}}}}
    return {
        "user-data": "#cloud-config\n" + json.dumps(user_data, indent=1) + "\n",
        "meta-data": json.dumps({"instance-id": f"pi-coach-{s.hostname}-{int(time.time())}",
                                 "local-hostname": s.hostname}) + "\n",
        "network-config": json.dumps(network, indent=1) + "\n",
    }


def customise(img: Image, bundle: Path, s: Settings) -> str:
    """Put the bundle and the first-boot settings on the image's boot partition; returns the mode
    ("firstrun" or "cloud-init"). Everything is checked before the first write."""
    check_settings(s)
    try:
        verify_bundle(bundle)
    except BundleError as exc:
        raise FlashError(str(exc)) from None
    info = json.loads((bundle / "BUNDLE.json").read_text())
    python, machine = info["python"], info["machine"]
    if not root_has(img, f"/usr/lib/{machine}-linux-gnu"):
        raise FlashError(f"{img.path}: the bundle is for {machine}, and the image's root has no /usr/lib/{machine}-linux-gnu: "
                         "use the 64-bit Raspberry Pi OS (arm64) image, or a bundle for the image")
    if not root_has(img, f"/usr/bin/python{python}"):
        raise FlashError(f"{img.path}: the image has no Python {python} (/usr/bin/python{python}), which the bundle's wheels "
                         "are built for: use Raspberry Pi OS Bookworm")
    need = bundle_size(bundle) + 2 * 2**20
    free = fat_free(img)
    if need > free:
        raise FlashError(f"{img.path}: the boot partition has {free / 1e6:.0f} MB free; the bundle needs {need / 1e6:.0f} MB")
    mode = "cloud-init" if root_has(img, "/usr/bin/cloud-init") else "firstrun"

    with tempfile.TemporaryDirectory(prefix="pi-coach-flash.") as tmp:
        tmp = Path(tmp)
        if "pi-coach-bundle" in fat_list(img):
            run(["mdeltree", "-i", img.fat, "::/pi-coach-bundle"], "removing an older bundle from the boot partition")
        run(["mcopy", "-s", "-i", img.fat, str(bundle), "::/pi-coach-bundle"], "copying the bundle to the boot partition")
        shutil.copy2(HERE / "firstrun.sh", tmp / "firstrun.sh")
        run(["mcopy", "-o", "-i", img.fat, str(tmp / "firstrun.sh"), "::/firstrun.sh"], "copying firstrun.sh")
        fat_write(img, "pi-coach-firstboot.conf", firstboot_conf(s), tmp)
        if mode == "firstrun":
            fat_write(img, "cmdline.txt", cmdline_with_firstrun(fat_read(img, "cmdline.txt")), tmp)
        else:
            for name, text in cloud_init_files(s).items():
                fat_write(img, name, text, tmp)
        config = fat_read(img, "config.txt")
        if not s.wifi_ssid and "dtoverlay=disable-wifi" not in config:
            config = config.rstrip("\n") + "\n\n[all]\n# pi-coach: no Wi-Fi (make flash WIFI_SSID=... turns it on)\ndtoverlay=disable-wifi\n"
            fat_write(img, "config.txt", config, tmp)
        # read the bundle back off the image and check every file
        back = tmp / "back"
        back.mkdir()
        run(["mcopy", "-s", "-i", img.fat, "::/pi-coach-bundle", str(back)], "reading the bundle back from the boot partition")
        try:
            verify_bundle(back / "pi-coach-bundle")
        except BundleError as exc:
            raise FlashError(f"the bundle on the image does not match: {exc}") from None
    return mode


# --- the card ---------------------------------------------------------------------------------

def _sysfs(dev_id: str) -> Path:
    return Path("/sys/dev/block") / dev_id


def _disk_of(dev_id: str) -> str:
    """The whole disk's major:minor for a partition's (or a disk's own)."""
    node = _sysfs(dev_id).resolve()
    if (node / "partition").exists():
        return (node.parent / "dev").read_text().strip()
    return dev_id


def _mounts() -> list[tuple[str, str]]:
    """(major:minor, mount point) of every mount."""
    rows = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        rows.append((fields[2], fields[4]))
    return rows


def check_device(device: Path, image_size: int, force: bool) -> int:
    """Refuse anything but a whole, unmounted, SD-card-sized disk that is not the system's; its size."""
    try:
        st = os.stat(device)
    except FileNotFoundError:
        raise FlashError(f"DEVICE {device}: no such device (lsblk lists the disks)") from None
    if not stat.S_ISBLK(st.st_mode):
        raise FlashError(f"DEVICE {device} is not a block device (OUT=file.img writes an image file instead)")
    dev_id = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    node = _sysfs(dev_id).resolve()
    if (node / "partition").exists():
        raise FlashError(f"DEVICE {device} is a partition: give the whole card (e.g. /dev/sdb, not /dev/sdb1)")
    ours = {dev_id} | {(p / "dev").read_text().strip() for p in node.iterdir() if (p / "partition").exists()}
    system = {_disk_of(mid) for mid, point in _mounts() if point in ("/", "/boot", "/boot/firmware", "/usr")
              and _sysfs(mid).exists()}
    if dev_id in system:
        raise FlashError(f"DEVICE {device} is the system disk (it holds /): refusing to overwrite it")
    for mid, point in _mounts():
        if mid in ours:
            raise FlashError(f"DEVICE {device} is mounted ({point}): unmount it first (sudo umount {point})")
    size = int((node / "size").read_text()) * 512
    if size > MAX_CARD and not force:
        raise FlashError(f"DEVICE {device} is {size / 1e9:.0f} GB: bigger than an SD card (256 GiB), so perhaps not one; "
                         "FORCE=1 (--force) writes to it anyway")
    if image_size > size:
        raise FlashError(f"the image ({image_size / 1e9:.1f} GB) does not fit on DEVICE {device} ({size / 1e9:.1f} GB)")
    return size


def write_device(image: Path, device: Path, force: bool, chunk: int = 4 * 2**20) -> str:
    """Write IMAGE to DEVICE, read it back and compare sha256; returns the digest."""
    total = image.stat().st_size
    check_device(device, total, force)
    try:
        fd = os.open(device, os.O_WRONLY | os.O_EXCL)  # O_EXCL: the kernel refuses a device in use
    except PermissionError:
        raise FlashError(f"writing to {device} needs root: sudo make flash ... (the image itself was made without)") from None
    except OSError as exc:
        raise FlashError(f"cannot open {device}: {exc.strerror}") from None
    written = hashlib.sha256()
    t0 = time.monotonic()
    try:
        with open(image, "rb") as src:
            for block in iter(lambda: src.read(chunk), b""):
                written.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    print(f"flash: wrote {total / 1e6:.0f} MB to {device} in {time.monotonic() - t0:.0f} s; reading it back")
    fd = os.open(device, os.O_RDONLY)
    try:
        try:
            fcntl.ioctl(fd, BLKFLSBUF)  # drop cached blocks: compare what is on the card
        except OSError:
            pass
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        read = hashlib.sha256()
        left = total
        while left:
            block = os.read(fd, min(chunk, left))
            if not block:
                break
            read.update(block)
            left -= len(block)
    finally:
        os.close(fd)
    if read.hexdigest() != written.hexdigest():
        raise FlashError(f"{device}: read back differs from the image (sha256 {read.hexdigest()[:16]} != "
                         f"{written.hexdigest()[:16]}): the card may be failing; try another")
    return written.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.flash", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, required=True, help="Raspberry Pi OS Bookworm arm64 image, .img or .img.xz (kept as is)")
    p.add_argument("--bundle", type=Path, required=True, help="the bundle folder from `make bundle`")
    p.add_argument("--out", type=Path, help="write the customised image here (without --device: only that)")
    p.add_argument("--device", type=Path, help="then write it to this SD card, e.g. /dev/sdX (needs root)")
    p.add_argument("--hostname", default="coach-1")
    p.add_argument("--user", default="coach", help="the instructor's login (default: %(default)s)")
    p.add_argument("--ssh-key", type=Path, required=True, help="the instructor's public key file (.pub): the only way in")
    p.add_argument("--wifi-ssid", default="", help="join this Wi-Fi network (default: Wi-Fi off)")
    p.add_argument("--wifi-password", default="")
    p.add_argument("--wifi-country", default="GB")
    p.add_argument("--force", action="store_true", help="write to a DEVICE bigger than 256 GiB")
    args = p.parse_args(argv)
    if not args.out and not args.device:
        p.error("give --out (image file) and/or --device (SD card)")
    try:
        if not args.ssh_key.is_file():
            raise FlashError(f"SSH key {args.ssh_key}: no such file (ssh-keygen -t ed25519 makes one)")
        settings = Settings(args.hostname, args.user, args.ssh_key.read_text().strip(), args.wifi_ssid,
                            args.wifi_password, args.wifi_country)
        check_settings(settings)
        if args.device:  # refuse a wrong card before spending minutes on the image
            check_device(args.device, 0, args.force)
        with tempfile.TemporaryDirectory(prefix="pi-coach-image.") as tmp:
            out = args.out or Path(tmp) / "pi-coach.img"
            try:
                unpack(args.image, out)
                img = read_image(out)
                mode = customise(img, args.bundle, settings)
            except BaseException:
                if args.out:
                    out.unlink(missing_ok=True)  # a half-made image is no use to anyone
                raise
            print(f"flash: {out}: {args.hostname}, user {args.user} (SSH key only), Wi-Fi "
                  f"{'on: ' + args.wifi_ssid if args.wifi_ssid else 'off'}, bundle on the boot partition, first boot by {mode}")
            if args.device:
                digest = write_device(out, args.device, args.force)
                print(f"flash: {args.device}: written and read back, sha256 {digest[:16]}...: "
                      "put the card in the Pi and power it on (first boot installs, then reboots)")
    except FlashError as exc:
        print(f"flash: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
