"""The buzzer: a short beep for a new correction, a rising chime for a correct hold, a slow
triple for a fault of the box itself. gpiozero drives it (``Buzzer`` for an active buzzer,
``TonalBuzzer`` for a passive one on a PWM pin); ``GPIOZERO_PIN_FACTORY=mock`` runs it anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import warnings

log = logging.getLogger(__name__)

# pattern name -> (note or None for silence, seconds); notes stay inside TonalBuzzer's default
# range (A3-A5) and an active buzzer simply sounds for every note.
PATTERNS = {
    "correction": [("A5", 0.08)],
    "well_done": [("A4", 0.12), (None, 0.04), ("C#5", 0.12), (None, 0.04), ("E5", 0.25)],
    "fault": [("A3", 0.4), (None, 0.3), ("A3", 0.4), (None, 0.3), ("A3", 0.4)],
}
EVENT_PATTERNS = {"correction": "correction", "well_done": "well_done"}


def in_quiet_hours(window: str, now: dt.time) -> bool:
    """True inside a "HH:MM-HH:MM" window (which may run past midnight); an empty window is never."""
    if not window:
        return False
    start, end = (dt.time.fromisoformat(p) for p in window.split("-"))
    return start <= now < end if start <= end else now >= start or now < end


class BuzzerPlayer:
    """Plays named patterns on a background thread, one at a time (a fault pattern never waits
    behind another's end, it is simply not dropped). A missing buzzer is logged once."""

    def __init__(self, pin: int, tonal: bool = False, quiet_hours: str = "", clock=dt.datetime.now):
        self.pin, self.tonal, self.quiet_hours, self._clock = pin, tonal, quiet_hours, clock
        self.device = None
        self.problem: str | None = None
        self.played: list[str] = []
        self._thread: threading.Thread | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gpiozero warns for every pin library it falls back from
                from gpiozero import Buzzer, TonalBuzzer

                self.device = TonalBuzzer(pin) if tonal else Buzzer(pin)
        except Exception as exc:  # no GPIO here, pin in use, gpiozero missing
            self.problem = f"buzzer on GPIO{pin} not available ({exc.__class__.__name__}: {exc})"
            log.error("%s; coaching goes on silently", self.problem)

    def play(self, name: str) -> bool:
        """Start a pattern unless muted, busy (faults excepted) or absent; True when started."""
        if self.device is None or in_quiet_hours(self.quiet_hours, self._clock().time()):
            return False
        if self._thread is not None and self._thread.is_alive():
            if name != "fault":
                return False
            self._thread.join()
        self.played.append(name)
        self._thread = threading.Thread(target=self._run, args=(PATTERNS[name],), name="buzzer", daemon=True)
        self._thread.start()
        return True

    def _run(self, pattern) -> None:
        try:
            for note, seconds in pattern:
                if note is None:
                    self._silence()
                elif self.tonal:
                    from gpiozero.tones import Tone

                    self.device.play(Tone(note))
                else:
                    self.device.on()
                time.sleep(seconds)
            self._silence()
        except Exception as exc:
            if self.problem is None:
                self.problem = f"buzzer failed ({exc.__class__.__name__}: {exc})"
                log.error(self.problem)

    def _silence(self) -> None:
        if self.tonal:
            self.device.stop()
        else:
            self.device.off()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.wait()
        if self.device is not None:
            self.device.close()
            self.device = None
