"""Live frame sources for the appliance, behind one interface, and the latest-frame-wins grabber.

A ``LiveSource`` opens, reads one frame at a time and closes; it raises ``SourceError`` when the
camera is missing or stops answering. ``LatestFrame`` reads a source on its own thread and keeps
only the newest frame, so a slow pipeline never builds a backlog: frames it had no time for are
counted as dropped. It reopens a failed source with backoff, and says why it is waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from . import IMAGE_SUFFIXES, Frame, SourceError, kind_of, read_image

log = logging.getLogger(__name__)


class LiveSource:
    """One interface for every frame source: ``open()``, ``read() -> Frame``, ``close()``.

    ``read`` returns None at the end of a file; a camera never ends, it fails with SourceError.
    ``rate`` is the source's own frame rate (frames a second) where it has one.
    """

    name = "source"
    rate: float | None = None
    paced = False  # True when read() itself waits for the next frame (a camera)

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PicameraSource(LiveSource):
    """The Raspberry Pi camera through picamera2: a video configuration with a small RGB888
    main stream (BGR in memory, as OpenCV wants it) at the inference size."""

    paced = True
    CAPTURE_TIMEOUT = 2.0  # seconds without a frame before the camera counts as gone

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30, camera: int = 0):
        self.size, self.rate, self.camera_num, self.name = (width, height), float(fps), camera, f"picamera2:{camera}"
        self._cam = None
        self._index = 0

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError("picamera2 is not installed (on Raspberry Pi OS: sudo apt install python3-picamera2)") from None
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(main={"size": self.size, "format": "RGB888"},
                                                    controls={"FrameRate": self.rate}, buffer_count=4)
            cam.configure(config)
            cam.start()
        except Exception as exc:  # picamera2 raises IndexError/RuntimeError for a missing camera
            raise SourceError(f"{self.name}: no camera ({exc.__class__.__name__}: {exc})") from None
        self._cam, self._start = cam, time.monotonic()

    def read(self) -> Frame:
        # picamera2 waits forever for a frame from an unplugged ribbon: ask for the frame as a
        # job and give up after CAPTURE_TIMEOUT, so the grabber can report it and reopen.
        try:
            job = self._cam.capture_array("main", wait=False)
            image = self._cam.wait(job, timeout=self.CAPTURE_TIMEOUT)
        except TimeoutError:
            raise SourceError(f"{self.name}: no frame for {self.CAPTURE_TIMEOUT:g} s (camera unplugged?)") from None
        except Exception as exc:
            raise SourceError(f"{self.name}: capture failed ({exc.__class__.__name__}: {exc})") from None
        self._index += 1
        return Frame(np.ascontiguousarray(image[..., :3]), self._index - 1, time.monotonic() - self._start, self.name)

    def close(self) -> None:
        if self._cam is None:
            return
        cam, self._cam = self._cam, None
        # stop() can block on a camera that vanished: close on a thread and never wait long for it
        closer = threading.Thread(target=self._close_camera, args=(cam,), name="camera-close", daemon=True)
        closer.start()
        closer.join(timeout=2.0)
        if closer.is_alive():
            log.warning("%s: the camera did not close within 2 s; left to close in the background", self.name)

    def _close_camera(self, cam) -> None:
        try:
            cam.stop()
            cam.close()
        except Exception as exc:  # a camera that vanished cannot be stopped cleanly
            log.debug("closing %s: %s", self.name, exc)


class WebcamSource(LiveSource):
    """A V4L2/USB webcam through OpenCV (``webcam:0`` is /dev/video0)."""

    paced = True

    def __init__(self, index: int, width: int = 640, height: int = 480, fps: int = 30):
        self.index, self.size, self.rate, self.name = index, (width, height), float(fps), f"webcam:{index}"
        self._cap = None
        self._count = 0

    def open(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: no camera at /dev/video{self.index}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_FPS, self.rate)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap, self._start = cap, time.monotonic()

    def read(self) -> Frame:
        ok, image = self._cap.read()
        if not ok:
            raise SourceError(f"{self.name}: the camera stopped sending frames")
        self._count += 1
        return Frame(image, self._count - 1, time.monotonic() - self._start, self.name)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileSource(LiveSource):
    """A video file or an image folder standing in for the camera (desktop runs, tests, benchmarks)."""

    def __init__(self, path: str | Path, fps: float = 30.0, loop: bool = False):
        self.path, self.loop, self.name = Path(path), loop, str(path)
        self.rate = fps
        self._cap = None
        self._files: list[Path] = []
        self._index = 0
        self._pass_start = 0

    def open(self) -> None:
        import cv2

        kind = kind_of(self.path)  # a file may turn up later (a USB stick): checked at each open
        if kind == "video":
            self._cap = cv2.VideoCapture(str(self.path))
            if not self._cap.isOpened():
                raise SourceError(f"{self.path}: cannot open this video")
            self.rate = self._cap.get(cv2.CAP_PROP_FPS) or self.rate
        else:
            folder = self.path if kind == "folder" else None
            self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder else [self.path]
            if not self._files:
                raise SourceError(f"{self.path}: no images in this folder")

    def _next_image(self) -> np.ndarray | None:
        if self._cap is not None:
            ok, image = self._cap.read()
            return image if ok else None
        k = self._index - self._pass_start
        return read_image(self._files[k]) if k < len(self._files) else None

    def read(self) -> Frame | None:
        image = self._next_image()
        if image is None and self.loop and self._index > self._pass_start:
            self.close()
            self.open()
            self._pass_start = self._index
            image = self._next_image()
        if image is None:
            return None
        self._index += 1
        return Frame(image, self._index - 1, (self._index - 1) / self.rate, self.name)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(spec: str, width: int = 640, height: int = 480, fps: int = 30, loop: bool = False) -> LiveSource:
    """The source a config or ``--source`` names: ``camera``, ``webcam:N``, a video file or a folder."""
    if spec == "camera":
        return PicameraSource(width, height, fps)
    if spec.startswith("webcam:"):
        try:
            return WebcamSource(int(spec.split(":", 1)[1]), width, height, fps)
        except ValueError:
            raise SourceError(f"{spec}: a webcam is named webcam:N (N the /dev/videoN number)") from None
    return FileSource(spec, fps, loop)


class LatestFrame:
    """Reads a LiveSource on a thread, keeping only the newest frame (latest frame wins).

    ``realtime``: a file is played at its own rate, as a camera would deliver it, and frames the
    consumer had no time for are dropped and counted. Without it a file is read in lock-step with
    the consumer, as fast as the pipeline goes (benchmarks and soak tests). A source that fails is
    reopened with exponential backoff up to ``retry_max`` seconds; ``problem`` says why meanwhile.
    """

    def __init__(self, source: LiveSource, realtime: bool = True, retry_max: float = 30.0):
        self.source, self.realtime, self.retry_max = source, realtime, retry_max
        self.dropped = 0
        self.delivered = 0
        self.reopened = 0
        self.problem: str | None = None
        self.ended = False
        self._frame: Frame | None = None
        self._captured = 0.0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frames", daemon=True)

    def start(self) -> LatestFrame:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def get(self, timeout: float = 1.0) -> tuple[Frame, float] | None:
        """The newest frame not yet taken and the monotonic time it was captured, or None if
        none came within ``timeout`` (or the source ended)."""
        with self._cond:
            if self._frame is None:
                self._cond.wait_for(lambda: self._frame is not None or self.ended or self._stop.is_set(), timeout)
            if self._frame is None:
                return None
            frame, captured, self._frame = self._frame, self._captured, None
            self.delivered += 1
            self._cond.notify_all()
            return frame, captured

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if not self.realtime:
                self._cond.wait_for(lambda: self._frame is None or self._stop.is_set())
            if self._frame is not None:
                self.dropped += 1
            self._frame, self._captured = frame, time.monotonic()
            self._cond.notify_all()

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.source.open()
            except SourceError as exc:
                self._wait_retry(str(exc), delay)
                delay = min(self.retry_max, delay * 2)
                continue
            if self.problem:
                log.warning("%s: camera back", self.source.name)
                self.reopened += 1
            self.problem, delay = None, 0.5
            try:
                self._pump()
            except SourceError as exc:
                self._wait_retry(str(exc), delay)
            finally:
                self.source.close()
            if self.ended:
                break
        with self._cond:
            self._cond.notify_all()

    def _pump(self) -> None:
        start, first = time.monotonic(), None
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                self.ended = True
                return
            if self.realtime and not self.source.paced and self.source.rate:
                first = frame.timestamp if first is None else first
                wait = start + (frame.timestamp - first) - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
            self._put(frame)

    def _wait_retry(self, reason: str, delay: float) -> None:
        if self.problem != reason:
            log.error("%s; retrying", reason)
        self.problem = reason
        self._stop.wait(delay)
