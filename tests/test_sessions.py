"""Reviewing sessions: a real run of the service on the dance video, read back as a list, a
summary, CSV files and an HTML report that headless Chromium renders with its plots."""

import csv
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from pi_coach.cli import main
from pi_coach.config import load_config
from pi_coach.service import Service

from .conftest import REPO


@pytest.fixture(scope="module")
def state(tmp_path_factory, shared_data):
    """The session log of one run over the real dance video (moves by the rules' match: the
    shipped model sees no ballet move in it, the rules see first position)."""
    d = tmp_path_factory.mktemp("state")
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": str(shared_data / "dance-video" / "example_video.webm"), "camera.realtime": False,
        "display.driver": "none", "buzzer.enabled": False, "model.path": "none", "session.state_dir": str(d)})
    assert Service(config).run() == 0
    return d


def test_list_and_show(state, capsys):
    assert main(["sessions", "--state-dir", str(state), "list"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("1 ") and "example_video.webm" in line and " moves" in line
    assert main(["sessions", "--state-dir", str(state), "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "first_position" in out and "corrections that came up most" in out and "in band" in out
    assert main(["sessions", "--state-dir", str(state), "show", "7"]) == 2
    assert "no session '7'" in capsys.readouterr().err


def test_export_writes_csv_and_a_report_chromium_renders_with_its_plots(state, tmp_path):
    assert main(["sessions", "--state-dir", str(state), "export", "all", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "moves.csv") as f:
        moves = list(csv.DictReader(f))
    assert moves and {m["move"] for m in moves} >= {"first_position"}
    with open(tmp_path / "measurements.csv") as f:
        assert len(list(csv.DictReader(f))) > 20
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= 3 and "src='data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page  # self-contained: opens offline

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium not found: `make test` installs Debian's chromium package")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1000,1400", (tmp_path / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # matplotlib's first and fourth default colours: the move timeline bar and the corrections bar
    for colour in ((31, 119, 180), (214, 39, 40)):
        assert (np.abs(pixels - colour).sum(axis=1) < 30).sum() > 500, f"no plot drawn in {colour}"
