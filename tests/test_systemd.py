"""The unit files pass ``systemd-analyze verify`` (and a broken copy does not), and the notify
protocol speaks to a real datagram socket, abstract addresses included."""

import os
import shutil
import socket
import subprocess

import pytest

from pi_coach.systemd import Notifier

from .conftest import REPO

UNIT = REPO / "systemd" / "pi-coach.service"


def verify(unit_text: str, tmp_path) -> subprocess.CompletedProcess:
    """Verify a copy of the unit whose ExecStart points at this checkout's pi-coach."""
    exe = shutil.which("pi-coach") or str(REPO / ".venv" / "bin" / "pi-coach")
    unit = tmp_path / "pi-coach.service"
    unit.write_text(unit_text.replace("/opt/pi-coach/bin/pi-coach", exe))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def analyze():
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze not found: install Debian's systemd package")


def test_unit_file_verifies_cleanly(analyze, tmp_path):
    out = verify(UNIT.read_text(), tmp_path)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


def test_verify_catches_a_broken_unit(analyze, tmp_path):
    broken = UNIT.read_text().replace("WatchdogSec=30", "WatchdogSec=soon").replace("DevicePolicy=closed", "DevicePolicy=shut")
    out = verify(broken, tmp_path)
    assert "WatchdogSec" in out.stderr or "sec value" in out.stderr
    assert "device policy" in out.stderr


def test_unit_has_the_hardening_and_device_access_the_box_needs():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "ProtectSystem=strict", "StateDirectory=pi-coach", "DevicePolicy=closed",
                 "NoNewPrivileges=yes", "RestartSec=", "SupplementaryGroups=video i2c gpio", "PrivateNetwork=yes",
                 "DeviceAllow=char-video4linux rw", "DeviceAllow=char-i2c rw", "DeviceAllow=char-gpiochip rw"):
        assert line in text, line


def test_sysusers_creates_the_service_user_in_its_groups(tmp_path):
    """systemd-sysusers applied to an empty root: the user, its own group, and video/i2c/gpio."""
    (tmp_path / "etc").mkdir()
    out = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(REPO / "systemd" / "pi-coach.sysusers.conf")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    assert passwd.startswith("pi-coach:x:") and "/usr/sbin/nologin" in passwd
    groups = {line.split(":")[0]: line.split(":")[3] for line in (tmp_path / "etc" / "group").read_text().splitlines()}
    assert all(groups[g] == "pi-coach" for g in ("video", "i2c", "gpio")) and "pi-coach" in groups


def test_notifier_sends_to_a_real_socket_and_paces_the_watchdog(tmp_path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
        assert n.watchdog_interval == 5.0
        n.ready("up")
        assert n.ping(100.0) and not n.ping(101.0) and n.ping(105.5)
        got = [sock.recv(1024).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=up", "WATCHDOG=1", "WATCHDOG=1"]


def test_a_notify_socket_nobody_reads_never_blocks(tmp_path):
    """Found by the soak test: with a blocking socket, the loop hung once the reader's queue filled."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        sent = [n.status(f"frame {i}") for i in range(2000)]  # returns at once, full queue or not
        assert sent[0] and not all(sent)  # the first went, later ones were dropped, none blocked
        assert sock.recv(100) == b"STATUS=frame 0"


def test_notifier_abstract_socket_and_no_systemd():
    name = f"pi-coach-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).status("hello")
        assert sock.recv(1024) == b"STATUS=hello"
    quiet = Notifier({})
    assert not quiet.send("READY=1") and not quiet.ping() and quiet.watchdog_interval is None
    other = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None  # the watchdog is another process's
