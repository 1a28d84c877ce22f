"""The appliance config: the shipped file documents every key, bad keys are refused with a line."""

import pytest

from pi_coach.config import DEFAULTS, ConfigError, load_config

from .conftest import REPO


def test_the_shipped_config_holds_every_key_at_its_default():
    config = load_config(REPO / "deploy" / "config.toml")
    assert config.values == DEFAULTS
    lines = (REPO / "deploy" / "config.toml").read_text().splitlines()
    for section, keys in DEFAULTS.items():
        for key in keys:  # written out, not just defaulted
            assert any(ln.startswith(f"{key} =") for ln in lines), f"[{section}] {key} missing from the shipped config"


def test_values_override_defaults_and_ints_pass_as_floats(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[display]\ndriver = "sh1106"\ni2c_address = 0x3D\n[coach]\nhold_seconds = 5\n')
    c = load_config(f)
    assert c["display.driver"] == "sh1106" and c["display.i2c_address"] == 0x3D
    assert c["coach.hold_seconds"] == 5.0 and c["camera.fps"] == 30


@pytest.mark.parametrize("text, where, words", [
    ('[camera]\nsource = "camera"\nframerate = 30\n', ":3:", "unknown key 'framerate' in [camera]"),
    ('[screen]\ndriver = "ssd1306"\n', ":1:", "unknown section [screen]"),
    ('[display]\n\ndriver = "ssd1309"\n', ":3:", "display.driver must be one of"),
    ('[buzzer]\npin = "18"\n', ":2:", "buzzer.pin must be int"),
    ('[buzzer]\nenabled = 1\n', ":2:", "buzzer.enabled must be bool"),
    ('[buzzer]\nquiet_hours = "late"\n', ":2:", "quiet_hours must look like"),
    ('[coach]\nmove_threshold = 0.5\nmove_release = 0.7\n', ":3:", "move_release must not be above"),
    ('[camera\nsource = 1\n', "", "TOML syntax error"),
])
def test_bad_config_is_refused_with_file_line_and_reason(tmp_path, text, where, words):
    f = tmp_path / "config.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert str(err.value).startswith(str(f) + where) and words in str(err.value)


def test_command_line_overrides_win(tmp_path):
    c = load_config(REPO / "deploy" / "config.toml").with_overrides({"camera.source": "x.mp4", "display.driver": None})
    assert c["camera.source"] == "x.mp4" and c["display.driver"] == "ssd1306"
    assert c.with_overrides({"session.state_dir": str(tmp_path)}).log_path == tmp_path / "sessions.db"
