"""Live sources: latest frame wins (a slow pipeline drops and counts, never queues), lock-step
for benchmarks, a missing camera is reported and retried."""

import time

import numpy as np

import pytest

from pi_coach.sources import SourceError
from pi_coach.sources.live import FileSource, LatestFrame, PicameraSource, WebcamSource, open_source

VIDEO = "dance-video/example_video.webm"


def drain(frames: LatestFrame, per_frame: float) -> list:
    got = []
    while (item := frames.get(timeout=2)) is not None:
        got.append(item[0].index)
        time.sleep(per_frame)
    return got


def test_a_slow_consumer_gets_the_newest_frames_and_the_rest_are_counted(shared_data):
    frames = LatestFrame(FileSource(shared_data / VIDEO), realtime=True).start()
    got = drain(frames, per_frame=0.1)  # 10 fps against a 30 fps video
    frames.stop()
    assert frames.ended and len(got) + frames.dropped == 382
    assert 0.5 * 382 < frames.dropped < 382 and got == sorted(got)
    assert max(b - a for a, b in zip(got, got[1:])) <= 6  # always close to the newest, no backlog


def test_lock_step_delivers_every_frame(shared_data):
    frames = LatestFrame(FileSource(shared_data / VIDEO), realtime=False).start()
    got = drain(frames, per_frame=0)
    assert got == list(range(382)) and frames.dropped == 0


def test_a_looping_file_keeps_counting(shared_data):
    source = FileSource(shared_data / VIDEO, loop=True)
    source.open()
    last = [source.read() for _ in range(400)][-1]
    assert last.index == 399 and abs(last.timestamp - 399 / source.rate) < 1e-6


def test_a_missing_source_is_retried_with_backoff_and_says_why(tmp_path):
    frames = LatestFrame(FileSource(tmp_path / "later.mp4"), retry_max=0.2).start()
    assert frames.get(timeout=1.0) is None
    assert "later.mp4: no such file or directory" in frames.problem
    frames.stop()


def test_source_names():
    assert isinstance(open_source("camera"), PicameraSource)
    assert isinstance(open_source("webcam:2"), WebcamSource)
    with pytest.raises(SourceError, match="webcam:N"):
        open_source("webcam:usb")
    with pytest.raises(SourceError, match="no camera at /dev/video97"):
        WebcamSource(97).open()


def test_picamera2_not_installed_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        PicameraSource().open()


class FakePicamera2:
    """Stands in for picamera2.Picamera2 (the box's library is not here): the calls the adapter
    makes, frames numbered in their first pixel, and a plan of what the camera does."""

    plan: list = []  # per open: "missing" (constructor raises) or a frame count before it hangs
    opened: list = []

    def __init__(self, camera_num=0):
        what = FakePicamera2.plan.pop(0) if FakePicamera2.plan else 10_000
        if what == "missing":
            raise IndexError("list index out of range")  # what picamera2 raises with no camera
        self.left, self.config, self.running = what, None, False
        FakePicamera2.opened.append(self)

    def create_video_configuration(self, main, controls, buffer_count):
        return {"main": main, "controls": controls, "buffer_count": buffer_count}

    def configure(self, config):
        self.config = config

    def start(self):
        self.running = True

    def capture_array(self, name, wait=None):
        assert name == "main" and wait is False and self.running
        return "job"

    def wait(self, job, timeout=None):
        assert timeout is not None, "a capture without a timeout hangs forever on an unplugged camera"
        if self.left <= 0:
            time.sleep(0.01)
            raise TimeoutError()
        self.left -= 1
        time.sleep(0.005)
        w, h = self.config["main"]["size"]
        return np.full((h, w, 4), 7, np.uint8)  # XBGR8888 in memory: four channels

    def stop(self):
        self.running = False

    def close(self):
        pass


@pytest.fixture
def fake_picamera2(monkeypatch):
    import sys
    import types

    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    FakePicamera2.plan, FakePicamera2.opened = [], []
    monkeypatch.setattr(PicameraSource, "CAPTURE_TIMEOUT", 0.05)
    return FakePicamera2


def test_picamera2_adapter_configures_a_small_stream_and_gives_bgr_frames(fake_picamera2):
    src = open_source("camera", 320, 240, 15)
    src.open()
    cam = fake_picamera2.opened[0]
    assert cam.config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert cam.config["controls"] == {"FrameRate": 15.0}
    frame = src.read()
    assert frame.image.shape == (240, 320, 3) and frame.image.flags["C_CONTIGUOUS"] and frame.index == 0
    src.close()
    assert not cam.running


def test_picamera2_missing_then_unplugged_is_retried_and_recovers(fake_picamera2, caplog):
    fake_picamera2.plan = ["missing", 5, "missing"]  # absent at start, 5 frames, unplugged, back
    frames = LatestFrame(PicameraSource(64, 48), retry_max=0.2).start()
    try:
        got = [frames.get(timeout=3) for _ in range(12)]
    finally:
        frames.stop()
    assert all(g is not None for g in got)
    assert frames.reopened == 2 and len(fake_picamera2.opened) == 2  # each return of the camera counted
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "no camera (IndexError" in messages and "no frame for 0.05 s (camera unplugged?)" in messages
