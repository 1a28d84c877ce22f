"""Live sources: latest frame wins (a slow pipeline drops and counts, never queues), lock-step
for benchmarks, a missing camera is reported and retried."""

import time

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
