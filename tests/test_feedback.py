"""Feedback sinks on the libraries' own fakes: luma's dummy and emulator devices, gpiozero's mock
pins, and a real SQLite file for the session log."""

import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from pi_coach.coach import CoachState
from pi_coach.feedback import oled
from pi_coach.feedback.buzzer import PATTERNS, BuzzerPlayer, in_quiet_hours
from pi_coach.feedback.session_log import MIGRATIONS, SCHEMA_VERSION, SessionLog, SessionLogError, connect

STATE = CoachState(1.0, "arabesque", "Arabesque", 0.93, "Lift your working leg higher", "correction", "major")


def lit(image: Image.Image, box) -> int:
    return int(np.count_nonzero(np.asarray(image.crop(box))))


# --- OLED ----------------------------------------------------------------------------------------


def test_screen_layout_big_move_one_correction_and_a_bar():
    image = oled.render(STATE)
    assert image.size == (128, 64) and image.mode == "1"
    assert lit(image, (0, 0, 128, 20)) > 150  # the move name, big
    assert lit(image, (0, 22, 128, 50)) > 100  # the correction
    bar = np.asarray(image.crop((2, 57, 100, 60)))
    assert 0.85 < bar.mean() < 1.0  # 93% confidence fills the bar


def test_hold_bar_fills_with_the_hold_and_long_words_stay_on_screen():
    held = CoachState(2.0, "passe", "Passé", 0.9, "Well done! Passé held", "well_done", hold=1.5, hold_target=3.0)
    bar = np.asarray(oled.render(held).crop((2, 57, 100, 60)))
    assert 0.4 < bar.mean() < 0.6
    long = CoachState(1.0, "battement_tendu", "Battement tendu", 0.9,
                      "Keep your standing knee straight and pull up through the thigh while the foot slides out", "correction")
    image = oled.render(long)
    assert np.asarray(image).shape == (64, 128)  # wrapped to two lines, cut with an ellipsis
    idle = oled.render(CoachState(3.0, "none", "", 0.0, "Step into the frame", "hint"))
    assert lit(idle, (0, 52, 128, 64)) == 0 and lit(idle, (0, 0, 128, 20)) > 100  # "Ready", no bar


def test_dummy_device_shows_the_state_rate_limited_and_only_on_change():
    clock = [0.0]
    screen = oled.Screen(lambda: oled.open_device("dummy"), min_interval=0.25, clock=lambda: clock[0])
    assert screen.show(STATE)
    assert np.array_equal(np.asarray(screen.device.image.convert("1")), np.asarray(oled.render(STATE)))
    clock[0] = 0.1
    other = CoachState(1.1, "arabesque", "Arabesque", 0.5)
    assert not screen.show(other)  # too soon
    clock[0] = 0.3
    assert screen.show(other) and not screen.show(other, force=True)  # unchanged picture: no redraw
    assert screen.updates == 2


def test_a_missing_screen_is_logged_once_and_found_again_later(caplog):
    clock, present = [0.0], [False]

    def opener():
        if not present[0]:
            raise OSError(121, "Remote I/O error")  # what an empty I2C address gives
        return oled.open_device("dummy")

    screen = oled.Screen(opener, min_interval=0, clock=lambda: clock[0])
    for t in range(5):
        clock[0] = t
        assert not screen.show(STATE, force=True)
    assert sum("display not available" in r.message for r in caplog.records) == 1
    present[0] = True
    clock[0] = 5 + oled.RETRY_SECONDS
    assert screen.show(STATE, force=True) and screen.problem is None


def test_emulator_writes_a_gif_and_pngs(tmp_path):
    gif = oled.Screen(lambda: oled.open_device("emulator", emulator_output=tmp_path / "oled.gif"), min_interval=0)
    png = oled.Screen(lambda: oled.open_device("emulator", emulator_output=tmp_path / "frames"), min_interval=0)
    for s in (STATE, CoachState(2.0, "arabesque", "Arabesque", 0.95)):
        gif.show(s)
        png.show(s)
    gif.close()
    with Image.open(tmp_path / "oled.gif") as im:
        assert im.n_frames == 2 and im.size == (256, 128)
    assert len(list((tmp_path / "frames").glob("oled_*.png"))) == 2


# --- buzzer --------------------------------------------------------------------------------------


@pytest.fixture
def mock_pins(monkeypatch):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_active_buzzer_patterns_on_mock_pins(mock_pins):
    buzzer = BuzzerPlayer(18)
    assert buzzer.play("well_done")
    assert not buzzer.play("correction")  # busy: a beep does not queue behind a chime
    buzzer.wait()
    states = [s.state for s in mock_pins.pin(18).states]
    assert states.count(1) == sum(1 for note, _ in PATTERNS["well_done"] if note) and states[-1] == 0
    assert buzzer.play("correction")
    buzzer.close()


def test_tonal_buzzer_plays_notes(mock_pins):
    buzzer = BuzzerPlayer(13, tonal=True)
    assert buzzer.play("fault")
    buzzer.wait()
    pin = mock_pins.pin(13)
    assert any(s.state > 0 for s in pin.states) and pin.state == 0
    buzzer.close()


def test_quiet_hours_silence_the_buzzer(mock_pins):
    late = BuzzerPlayer(18, quiet_hours="22:00-07:00", clock=lambda: dt.datetime(2026, 11, 21, 23, 30))
    assert not late.play("correction")
    assert in_quiet_hours("22:00-07:00", dt.time(6, 59)) and not in_quiet_hours("22:00-07:00", dt.time(7, 0))
    assert in_quiet_hours("12:00-13:00", dt.time(12, 30)) and not in_quiet_hours("", dt.time(12, 30))


def test_no_gpio_means_a_silent_coach_not_a_crash(caplog):
    from gpiozero import Device

    Device.pin_factory = None
    buzzer = BuzzerPlayer(18)  # no pin library works on this machine
    assert buzzer.device is None and "GPIO18" in buzzer.problem
    assert not buzzer.play("correction")


# --- session log ---------------------------------------------------------------------------------


def test_session_log_records_a_session(tmp_path):
    log = SessionLog(tmp_path / "s.db", source="cam", profile="beginner", flush_seconds=0)
    log.add_move("arabesque", 1.0, 3.5, 0.97, 0.9, 2.0)
    log.add_correction(2.0, "arabesque", "leg_angle", "Lift your leg", "major", 72.0)
    log.close(frames=100, dropped=3)
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT source, profile, frames, dropped, ended IS NOT NULL FROM sessions").fetchone() == \
        ("cam", "beginner", 100, 3, 1)
    assert db.execute("SELECT move, duration, held FROM moves").fetchone() == ("arabesque", 3.5, 2.0)
    assert db.execute("SELECT check_id, value FROM corrections").fetchone() == ("leg_angle", 72.0)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_old_log_is_migrated_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO sessions (started, source) VALUES (1.0, 'old')")
    db.commit()
    db.close()
    SessionLog(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT source, profile FROM sessions ORDER BY id").fetchall() == [("old", ""), ("", "")]


def test_a_newer_or_foreign_file_is_refused_with_its_name(tmp_path):
    newer = tmp_path / "newer.db"
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SessionLogError, match="newer.db: schema version"):
        connect(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(SessionLogError, match="junk.db: not a pi-coach session log"):
        connect(junk)


def test_a_full_disk_keeps_rows_waiting_and_writes_them_when_space_returns(tmp_path, caplog):
    log = SessionLog(tmp_path / "s.db", flush_seconds=0)
    pages = log.db.execute("PRAGMA page_count").fetchone()[0]
    log.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    for i in range(2000):
        log.add_correction(float(i), "passe", "toe_at_knee", "Bring your toe up to your knee " * 4, "minor", 1.0)
    assert log.problem and "full" in log.problem
    assert sum("cannot write" in r.message for r in caplog.records) == 1
    log.db.execute("PRAGMA max_page_count = 1000000")
    log.close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 2000


def test_a_power_cut_loses_at_most_the_unflushed_seconds_and_never_the_file(tmp_path):
    """A writer killed with SIGKILL mid-session: the file opens, passes its integrity check and
    holds every row flushed before the kill."""
    path = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pi_coach.feedback.session_log import SessionLog
        log = SessionLog({str(path)!r}, flush_seconds=1e9)
        for i in range(500):
            log.add_event(float(i), "tick")
            if i % 50 == 49:
                log.flush()
        print("flushed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == -9 and "flushed" in out.stdout
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 500
    assert db.execute("SELECT ended FROM sessions").fetchone() == (None,)
