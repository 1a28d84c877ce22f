"""The 128x64 OLED: the move in big letters, one short correction, a confidence or hold bar.

Screens are drawn as PIL images (``render``), so what the dancer sees can be tested and saved
without hardware; ``Screen`` puts them on a luma device: a real ``ssd1306``/``sh1106`` over I2C,
luma.emulator's PNG/GIF capture for demos, or luma.core's ``dummy`` device in tests.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..coach import CoachState
from ..draw import font

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 128, 64
RETRY_SECONDS = 10.0  # how often a missing screen is looked for again


def _fit(draw: ImageDraw.ImageDraw, text: str, sizes: tuple[int, ...], width: int) -> ImageFont.FreeTypeFont:
    """The largest bold font of ``sizes`` that fits the text in ``width`` pixels."""
    for size in sizes:
        if draw.textlength(text, font=font(size, bold=True)) <= width:
            return font(size, bold=True)
    return font(sizes[-1], bold=True)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, lines: int) -> list[str]:
    """Greedy word wrap into at most ``lines`` lines; the last is cut with an ellipsis if needed."""
    out: list[str] = []
    for word in text.split():
        if out and draw.textlength(out[-1] + " " + word, font=font) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    if len(out) > lines:
        out = out[:lines]
        while out[-1] and draw.textlength(out[-1] + "...", font=font) > width:
            out[-1] = out[-1][:-1]
        out[-1] += "..."
    return out


def render(state: CoachState | None, notice: str = "", combo: str = "") -> Image.Image:
    """One screen, 1-bit. A ``notice`` (a fault of the box) takes the whole screen. ``combo``
    (following a combination: the next move, a flag or the score) takes the second message line."""
    image = Image.new("1", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(image)
    if notice or state is None:
        title, body = ("pi-coach", notice or "Starting...")
        draw.text((0, 0), title, font=font(12), fill=1)
        draw.line((0, 15, WIDTH, 15), fill=1)
        for i, line in enumerate(_wrap(draw, body, font(12), WIDTH, 3)):
            draw.text((0, 18 + i * 15), line, font=font(12), fill=1)
        return image
    title = state.title or "Ready"
    draw.text((0, -2), title, font=_fit(draw, title, (20, 18, 16, 14, 12), WIDTH), fill=1)
    small = font(11)
    if state.message:
        for i, line in enumerate(_wrap(draw, state.message, small, WIDTH, 1 if combo else 2)):
            draw.text((0, 22 + i * 13), line, font=small, fill=1)
    if combo:
        draw.text((0, 37 if state.title or state.message else 22), _wrap(draw, combo, small, WIDTH, 1)[0], font=small, fill=1)
    if not state.title:
        return image  # no move: no bar
    # the bar: hold progress while holding correctly, else the move's confidence
    if state.hold > 0 and state.hold_target > 0 and state.kind != "correction":
        share, label = min(1.0, state.hold / state.hold_target), f"{state.hold:.0f}s"
    else:
        share, label = state.confidence, f"{round(100 * state.confidence)}%"
    draw.rectangle((0, 54, WIDTH - 26, 63), outline=1)
    draw.rectangle((2, 56, 2 + round((WIDTH - 30) * share), 61), fill=1)
    draw.text((WIDTH - 22, 52), label, font=font(10), fill=1)
    return image


def open_device(driver: str, i2c_port: int = 1, i2c_address: int = 0x3C, rotate: int = 0,
                emulator_output: str | Path = "oled.gif"):
    """A luma device for the driver name (see config.DISPLAYS); None for ``none``."""
    if driver == "none":
        return None
    if driver in ("ssd1306", "sh1106"):
        from luma.core.interface.serial import i2c
        from luma.oled import device as oled

        serial = i2c(port=i2c_port, address=i2c_address)
        return getattr(oled, driver)(serial, width=WIDTH, height=HEIGHT, rotate=rotate)
    if driver == "dummy":
        from luma.core.device import dummy

        return dummy(width=WIDTH, height=HEIGHT, rotate=rotate, mode="1")
    if driver == "emulator":
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        from luma.emulator.device import capture, gifanim

        out = Path(emulator_output)
        if out.suffix.lower() == ".gif":
            out.parent.mkdir(parents=True, exist_ok=True)
            return gifanim(width=WIDTH, height=HEIGHT, rotate=rotate, mode="1", filename=str(out), duration=0.25,
                           transform="scale2x", scale=2)
        out.mkdir(parents=True, exist_ok=True)
        return capture(width=WIDTH, height=HEIGHT, rotate=rotate, mode="1", transform="scale2x", scale=2,
                       file_template=str(out / "oled_{0:06}.png"))
    raise ValueError(f"unknown display driver {driver!r}")


class Screen:
    """Shows CoachStates on a display, no more often than ``min_interval`` seconds and only when
    the picture changes. A missing or failing display is logged once and looked for again later."""

    def __init__(self, opener, min_interval: float = 0.25, clock=time.monotonic):
        self._opener, self.min_interval, self._clock = opener, min_interval, clock
        self.device = None
        self.problem: str | None = None
        self._last_try = -RETRY_SECONDS
        self._last_draw = -min_interval
        self._last_image: bytes | None = None
        self.updates = 0

    def _ensure(self) -> bool:
        if self.device is not None:
            return True
        now = self._clock()
        if now - self._last_try < RETRY_SECONDS:
            return False
        self._last_try = now
        try:
            self.device = self._opener()
        except Exception as exc:  # luma raises DeviceNotFoundError, DevicePermissionError, OSError...
            self._fail(f"display not available ({exc.__class__.__name__}: {exc})")
            return False
        if self.problem:
            log.warning("display back")
        self.problem = None
        return self.device is not None

    def _fail(self, reason: str) -> None:
        if self.problem is None:
            log.error("%s; coaching goes on without the screen", reason)
        self.problem, self.device = reason, None

    def show(self, state: CoachState | None, notice: str = "", force: bool = False, combo: str = "") -> bool:
        """Draw the state (or a notice) if due; True when the screen was updated."""
        now = self._clock()
        if not force and now - self._last_draw < self.min_interval:
            return False
        image = render(state, notice, combo)
        data = image.tobytes()
        if data == self._last_image or not self._ensure():
            return False
        try:
            self.device.display(image.convert(self.device.mode))
        except Exception as exc:
            self._fail(f"display failed ({exc.__class__.__name__}: {exc})")
            return False
        self._last_draw, self._last_image = now, data
        self.updates += 1
        return True

    def close(self) -> None:
        if self.device is None:
            return
        try:
            if hasattr(self.device, "write_animation"):
                self.device.write_animation()
            else:
                self.device.cleanup()
        except Exception as exc:
            log.debug("closing the display: %s", exc)
        self.device = None
