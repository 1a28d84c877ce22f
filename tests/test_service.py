"""The appliance end to end on the real dance video: systemd's notify protocol on a real unix
socket, signals, the session log, and the faults of a studio day injected one after another.

The camera is the one piece of hardware faked: a stand-in ``picamera2`` module that serves the
real video's frames through the real PicameraSource adapter, and can be absent, unplugged or
deliver a broken frame. The OLED is luma's dummy device (or the real ssd1306 driver with no I2C
bus, for the missing-screen fault); the buzzer runs on gpiozero's mock pins.
"""

import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types

import cv2
import numpy as np

from pi_coach.config import load_config
from pi_coach.feedback import oled, session_log
from pi_coach.service import ConsoleSink, Service

from .conftest import REPO

VIDEO = "dance-video/example_video.webm"


class NotifyListener:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first message (seen before or arriving now) containing ``text``."""
        end = time.monotonic() + timeout
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if text in m:
                    return m
            seen = len(self.messages)
            if time.monotonic() > end:
                raise AssertionError(f"no {text!r} within {timeout} s; got {self.messages[-5:]}")
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass


def test_service_under_systemd_protocol_signals_and_session_log(tmp_path, shared_data):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "ballet", rules)
    listener = NotifyListener(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=listener.path, WATCHDOG_USEC="2000000", GPIOZERO_PIN_FACTORY="mock",
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pi_coach.cli", "run", "--source", str(shared_data / VIDEO), "--loop",
         "--display", "dummy", "--state-dir", str(tmp_path / "state"), "--rules", str(rules), "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = listener.wait_for("READY=1", timeout=90)
        assert "STATUS=coaching from" in ready
        listener.wait_for("WATCHDOG=1", timeout=10)
        listener.wait_for("fps,", timeout=10)

        good = (rules / "passe.toml").read_text()
        (rules / "passe.toml").write_text(good.replace("band = [", "band = [oops, ", 1))
        proc.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1", timeout=10)
        assert "rules refused" in listener.wait_for("STATUS=rules", timeout=10)
        (rules / "passe.toml").write_text(good)
        proc.send_signal(signal.SIGHUP)
        listener.wait_for("STATUS=rules reloaded", timeout=10)
        listener.wait_for("WATCHDOG=1", timeout=10)  # still looping after both reloads
        while frames_in(listener.wait_for("fps,", timeout=10)) < 30:
            listener.messages.clear()

        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    listener.wait_for("STOPPING=1", timeout=5)
    assert f"{rules / 'passe.toml'}:" in err and "rules refused" in err and "old rules stay in force" in err
    db = sqlite3.connect(tmp_path / "state" / "sessions.db")
    frames, ended = db.execute("SELECT frames, ended FROM sessions").fetchone()
    assert frames > 30 and ended is not None
    kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds.index("rules_refused") < kinds.index("rules_reloaded")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def frames_in(status: str) -> int:
    return int(status.split(" frames,")[0].rsplit(" ", 1)[1])


class FakeCamera:
    """What the stand-in picamera2 module serves: the real video at 30 fps, with faults on cue."""

    def __init__(self, video, missing_tries=0, unplug_at=None, bad_frame_at=None):
        self.video, self.missing_tries = str(video), missing_tries
        self.unplug_at, self.bad_frame_at = unplug_at, bad_frame_at
        self.opened = 0
        self.served = 0

    def module(self):
        camera = self

        class Picamera2:
            def __init__(self, num=0):
                camera.opened += 1
                if camera.opened <= camera.missing_tries:
                    raise IndexError("list index out of range")  # what picamera2 says with no camera
                self.cap = cv2.VideoCapture(camera.video)

            def create_video_configuration(self, main, controls, buffer_count):
                assert main["format"] == "RGB888" and main["size"] == (640, 480)
                return {"main": main}

            def configure(self, config):
                self.size = config["main"]["size"]

            def start(self):
                pass

            def capture_array(self, name="main", wait=None):
                assert wait is False, "the adapter asks for a job, to wait on it with a timeout"
                return name

            def wait(self, job, timeout=None):
                time.sleep(1 / 30)
                camera.served += 1
                if camera.served == camera.unplug_at:
                    raise TimeoutError()  # an unplugged ribbon: no frame ever comes
                if camera.served == camera.bad_frame_at:
                    return np.zeros((0, 640, 3), np.uint8)  # an empty buffer: MediaPipe cannot take it
                ok, image = self.cap.read()
                if not ok:
                    self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = self.cap.read()
                return cv2.resize(image, self.size)

            def stop(self):
                pass

            def close(self):
                self.cap.release()

        return types.SimpleNamespace(Picamera2=Picamera2)


def run_until(service, condition, timeout=120):
    """Run the service in this thread until ``condition()`` holds (checked from a watcher)."""
    def watch():
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            time.sleep(0.1)
        service.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert service.run() == 0
    watcher.join()
    assert condition(), "the service stopped before the condition held"


def test_a_studio_day_of_faults_and_the_coach_carries_on(tmp_path, shared_data, monkeypatch, caplog):
    """Camera missing at start, a broken frame, the camera unplugged mid-session, no OLED on the
    I2C bus, and a full disk under the session log: each logged, none stops the coaching."""
    camera = FakeCamera(shared_data / VIDEO, missing_tries=2, unplug_at=40, bad_frame_at=15)
    monkeypatch.setitem(sys.modules, "picamera2", camera.module())
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")

    real_connect = session_log.connect

    def tiny_disk(path):
        """The log on a disk with room for the session's row and nothing more: the events table is
        filled until SQLite itself answers "database or disk is full"."""
        db = real_connect(path)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 4}")
        for size in (2000, 200, 1):
            try:
                while True:
                    db.execute("INSERT INTO events (time, kind, detail) VALUES (0, 'filler', ?)", ("x" * size,))
            except sqlite3.OperationalError:
                pass
        return db

    monkeypatch.setattr(session_log, "connect", tiny_disk)
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": "camera", "camera.retry_max": 0.5, "display.i2c_port": 99,
        "session.state_dir": str(tmp_path), "coach.missing_seconds": 0.2})
    service = Service(config, console=ConsoleSink(open(os.devnull, "w")))
    notices = []
    real_render = oled.render
    monkeypatch.setattr(oled, "render", lambda s, notice="", combo="": notices.append(notice) or real_render(s, notice, combo))

    run_until(service, lambda: service.stats.frames >= 90)

    log = caplog.text
    assert camera.opened >= 4, "reopened after missing twice and after the unplug"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("no camera (IndexError" in e for e in errors) == 1, "a camera missing twice is logged once"
    assert "no frame for 2 s (camera unplugged?)" in log
    assert "Camera missing - retrying" in notices
    assert service.stats.ready_after is not None and service.stats.frames >= 90
    assert service.stats.pose_errors == 1 and "frame" in log and "skipped" in log
    assert log.count("display not available") == 1, "the missing OLED is logged once"
    assert "session log" in log and "cannot write" in log and "database or disk is full" in log


def test_service_refuses_to_start_without_rules_and_says_why(tmp_path, shared_data):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.toml").write_text("schema = 1\nmove = \n")
    out = subprocess.run([sys.executable, "-m", "pi_coach.cli", "run", "--source", str(shared_data / VIDEO),
                          "--display", "none", "--state-dir", str(tmp_path), "--rules", str(tmp_path / "rules")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and f"{tmp_path / 'rules' / 'bad.toml'}:2" in out.stderr


def test_a_file_source_runs_to_its_end_in_lock_step(tmp_path, shared_data):
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": str(shared_data / VIDEO), "camera.realtime": False, "display.driver": "none",
        "buzzer.enabled": False, "session.state_dir": str(tmp_path)})
    service = Service(config)
    assert service.run() == 0
    assert service.stats.frames == 382 and service.stats.dropped == 0  # lock-step: every frame, none dropped


def test_a_corrupt_model_is_named_and_the_rules_pick_the_move(tmp_path, caplog):
    broken = tmp_path / "moves.tflite"
    broken.write_bytes(b"\x00garbage" * 50)
    shutil.copy(REPO / "models" / "moves.json", tmp_path / "moves.json")
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": str(REPO / "samples" / "photos"), "camera.realtime": False, "display.driver": "dummy",
        "buzzer.enabled": False, "model.path": str(broken), "session.state_dir": str(tmp_path)})
    service = Service(config)
    assert service.run() == 0
    assert service.classifier is None and service.stats.frames == len(list((REPO / "samples" / "photos").glob("*.jp*g")))
    assert f"{broken}: not a valid TFLite model" in caplog.text
