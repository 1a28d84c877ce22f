"""The appliance's configuration: ``/etc/pi-coach/config.toml`` (or ``--config``), every key
with a default, unknown keys and wrong types refused with the file, line and reason.

``DEFAULTS`` below is the list of keys; ``deploy/config.toml`` (installed as the box's config)
shows each with its comment, and a test keeps the two the same.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("/etc/pi-coach/config.toml")
DISPLAYS = ("ssd1306", "sh1106", "emulator", "dummy", "none")

# section -> key -> default; the type of the default is the type the key must have.
DEFAULTS: dict[str, dict[str, Any]] = {
    "camera": {
        "source": "camera",  # "camera" (picamera2), "webcam:N" (V4L2 via OpenCV), a video file or an image folder
        "width": 640,  # the size frames are captured at for inference
        "height": 480,
        "fps": 30,
        "realtime": True,  # files: play at their own frame rate, as a camera would; false = as fast as possible
        "loop": False,  # files: start again at the end
        "retry_max": 30.0,  # seconds: the longest wait between tries to reopen a missing camera
    },
    "model": {
        "path": "",  # the move model (.tflite with its .json); "" = the installed default; "none" = the rules' match
        "threads": 2,
    },
    "rules": {
        "dir": "",  # the live rule set; "" = the installed default
        "profiles_dir": "/etc/pi-coach/profiles",  # dancer profiles; the file "active" there names the one in use
    },
    "display": {
        "driver": "ssd1306",  # one of DISPLAYS
        "i2c_port": 1,  # /dev/i2c-1 on a Raspberry Pi (pins 3 and 5)
        "i2c_address": 0x3C,  # most 128x64 modules; some are 0x3D
        "rotate": 0,  # 0-3, quarter turns
        "min_interval": 0.25,  # seconds between screen updates
        "emulator_output": "oled.gif",  # driver "emulator": a .gif, or a folder for one PNG per update
    },
    "buzzer": {
        "enabled": True,
        "pin": 18,  # BCM GPIO number (physical pin 12)
        "tonal": False,  # a passive buzzer on a PWM pin (TonalBuzzer) rather than an active one
        "quiet_hours": "",  # "22:00-07:00": no sound in that window
    },
    "coach": {
        "move_threshold": 0.8,  # a move is announced when its smoothed score passes this
        "move_release": 0.6,  # and dropped when it falls below this
        "move_frames": 5,  # frames the score must stay above the threshold before the move is announced
        "smoothing": 0.4,  # weight of the newest frame in the score average (1 = no smoothing)
        "correction_seconds": 0.8,  # a correction must persist this long before it is shown
        "hold_seconds": 3.0,  # a static move held correctly this long earns "well done"
        "missing_seconds": 1.0,  # nobody (or no feet) this long before "step into the frame"
    },
    "combination": {
        "file": "",  # a combination file (rules/combinations/*.toml) to follow live; "" = none
        "threshold": 0.8,  # a move counts as a step when its smoothed score passes this ...
        "release": 0.5,  # ... for min_frames frames, and ends when it stays below this
        "min_frames": 5,
        "latency_frames": 3,  # the move model's delay: step boundaries are dated back this many frames
    },
    "session": {
        "state_dir": "/var/lib/pi-coach",  # the service's StateDirectory
        "log": "sessions.db",  # SQLite session log, relative to state_dir
        "profile": "",  # a dancer profile to use always; "" = the active one (`pi-coach profile use NAME`)
    },
    "service": {
        "watchdog_fraction": 0.5,  # ping the watchdog at this share of WatchdogSec
        "status_interval": 2.0,  # seconds between STATUS= updates
        "control_socket": "",  # for `pi-coach status` and `rules install`; "" = control.sock in state_dir
    },
}


class ConfigError(ValueError):
    """A configuration problem, with the file and line where known."""


@dataclass(frozen=True)
class Config:
    """The merged configuration: ``section(name)`` gives a dict of that section's keys."""

    values: dict[str, dict[str, Any]]
    path: Path | None = None

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.values[name])

    def __getitem__(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        return self.values[section][key]

    def with_overrides(self, dotted: dict[str, Any]) -> Config:
        """A copy with ``section.key`` values replaced (command-line options); None keeps the value."""
        values = {s: dict(v) for s, v in self.values.items()}
        for name, value in dotted.items():
            if value is not None:
                section, key = name.split(".", 1)
                values[section][key] = value
        return Config(values, self.path)

    @property
    def state_dir(self) -> Path:
        return Path(self["session.state_dir"])

    @property
    def log_path(self) -> Path:
        return self.state_dir / self["session.log"]

    @property
    def control_socket(self) -> Path:
        return Path(self["service.control_socket"]) if self["service.control_socket"] else self.state_dir / "control.sock"


def load_config(path: str | Path | None = None) -> Config:
    """The defaults with the file's values over them; no file at the default path means defaults."""
    values = {s: dict(v) for s, v in DEFAULTS.items()}
    if path is None:
        if not DEFAULT_PATH.is_file():
            return Config(values)
        path = DEFAULT_PATH
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None

    def fail(reason: str, section: str, key: str | None = None):
        line = _line_of(text, section, key)
        raise ConfigError(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")

    for section, table in data.items():
        if section not in DEFAULTS:
            fail(f"unknown section [{section}]; known: {', '.join(DEFAULTS)}", section)
        if not isinstance(table, dict):
            fail(f"{section} must be a [{section}] table", section)
        for key, value in table.items():
            if key not in DEFAULTS[section]:
                fail(f"unknown key {key!r} in [{section}]; known: {', '.join(DEFAULTS[section])}", section, key)
            default = DEFAULTS[section][key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(default):
                fail(f"{section}.{key} must be {type(default).__name__}, got {value!r}", section, key)
            values[section][key] = value
    if values["display"]["driver"] not in DISPLAYS:
        fail(f"display.driver must be one of {', '.join(DISPLAYS)}, got {values['display']['driver']!r}",
             "display", "driver")
    if values["coach"]["move_release"] > values["coach"]["move_threshold"]:
        fail("coach.move_release must not be above coach.move_threshold", "coach", "move_release")
    if values["combination"]["release"] > values["combination"]["threshold"]:
        fail("combination.release must not be above combination.threshold", "combination", "release")
    if values["combination"]["min_frames"] < 1:
        fail("combination.min_frames must be 1 or more", "combination", "min_frames")
    quiet = values["buzzer"]["quiet_hours"]
    if quiet and not re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", quiet):
        fail(f"buzzer.quiet_hours must look like \"22:00-07:00\", got {quiet!r}", "buzzer", "quiet_hours")
    return Config(values, path)


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """The line of ``key`` in ``[section]`` (or of the section header), for error messages."""
    current, header_line = "", None
    for num, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
        if header:
            current = header.group(1)
            if current == section:
                header_line = num
            continue
        if current == section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return num
    return header_line
