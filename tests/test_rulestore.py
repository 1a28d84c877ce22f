"""Swapping the live rules: validate, install atomically, roll back, survive a crash mid-install,
and hear from the running service whether it took the new set."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from pathlib import Path

import pytest

from pi_coach.cli import main
from pi_coach.config import load_config
from pi_coach.control import request
from pi_coach.rulebook import load_rules
from pi_coach.rulestore import RuleSetRefused, RuleStore, StoreError
from pi_coach.service import Service

from .conftest import REPO

BALLET = REPO / "rules" / "ballet"


@pytest.fixture
def edited(tmp_path):
    """The ballet rules with a beginner's arabesque (from 70 degrees)."""
    d = tmp_path / "edited"
    shutil.copytree(BALLET, d)
    f = d / "arabesque.toml"
    f.write_text(f.read_text().replace("band = [90, 125]", "band = [70, 125]"))
    return d


def test_install_makes_a_new_live_set_and_rollback_returns(tmp_path, edited, capsys):
    store = RuleStore(tmp_path / "store")
    assert main(["rules", "install", str(BALLET), "--store", str(store.root), "--no-reload"]) == 0
    assert main(["rules", "install", str(edited), "--store", str(store.root), "--no-reload"]) == 0
    assert store.current().number == 2 and os.readlink(store.current_link) == os.path.join("sets", "0002")
    book, errors = load_rules(store.current_link)
    assert not errors and book["arabesque"].checks[0].condition.band == (70.0, 125.0)
    assert store.current().manifest["from"] == str(edited)
    capsys.readouterr()
    assert main(["rules", "diff", "--store", str(store.root)]) == 0
    assert "-band = [90, 125]\n+band = [70, 125]" in capsys.readouterr().out
    assert main(["rules", "rollback", "--store", str(store.root), "--no-reload"]) == 0
    assert store.current().number == 1
    with pytest.raises(StoreError, match="no earlier rule set"):
        store.rollback()
    assert store.rollback(to=2).number == 2
    assert main(["rules", "list", "--store", str(store.root)]) == 0
    assert "live rule set 2" in capsys.readouterr().out


def test_a_broken_set_is_refused_with_file_and_line_and_nothing_changes(tmp_path, edited, capsys):
    store = RuleStore(tmp_path / "store")
    store.install(BALLET)
    (edited / "passe.toml").write_text((edited / "passe.toml").read_text().replace("severity = \"major\"", "severity = \"huge\"", 1))
    assert main(["rules", "install", str(edited), "--store", str(store.root), "--no-reload"]) == 1
    err = capsys.readouterr().err
    assert f"{edited / 'passe.toml'}:" in err and "severity must be one of" in err and "unchanged" in err
    assert store.current().number == 1 and len(store.sets()) == 1


def test_only_the_last_sets_are_kept(tmp_path):
    store = RuleStore(tmp_path / "store")
    for _ in range(13):
        store.install(BALLET / "passe.toml")
    assert [s.number for s in store.sets()] == list(range(4, 14)) and store.current().number == 13


@pytest.mark.parametrize("crash_at", ["rename", "replace"])
def test_a_crash_mid_install_leaves_the_old_set_live(tmp_path, edited, crash_at):
    """The process dies (os._exit, no clean-up) as it renames the new set into place, or as it
    swaps the link: the old set stays live and whole, and the next install clears the debris."""
    store = RuleStore(tmp_path / "store")
    store.install(BALLET)
    script = textwrap.dedent(f"""
        import os
        from pi_coach.rulestore import RuleStore
        def crash(*args):
            os._exit(137)
        os.{crash_at} = crash
        RuleStore({str(store.root)!r}).install({str(edited)!r})
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 137
    assert store.current().number == 1
    book, errors = load_rules(store.current_link)
    assert not errors and book["arabesque"].checks[0].condition.band == (90.0, 125.0)
    new, _ = store.install(edited)
    assert store.current() == new and not list(store.sets_dir.glob(".new-*"))
    assert not list(store.root.glob(".current-*")) or crash_at == "replace"


def test_install_needs_write_access_and_says_which_group():
    """Someone outside the store's group (run as ``nobody`` when the tests run as root)."""
    root = Path(tempfile.mkdtemp()) / "store"  # under /tmp, which anyone may traverse
    root.mkdir()
    root.chmod(0o755)
    root.parent.chmod(0o755)
    script = f"from pi_coach.rulestore import RuleStore; RuleStore({str(root)!r}).install({str(BALLET)!r})"
    as_other = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if not as_other:
        root.chmod(0o555)
    out = subprocess.run([*as_other, sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode != 0 and "StoreError" in out.stderr and "pi-coach group" in out.stderr, out.stderr
    assert not (root / "sets").exists()
    shutil.rmtree(root.parent)


def test_refused_install_raises_every_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.toml").write_text("schema = 1\n")
    (bad / "b.toml").write_text("[[check]\n")
    with pytest.raises(RuleSetRefused) as err:
        RuleStore(tmp_path / "store").install(bad)
    assert len(err.value.errors) == 2


def test_the_running_service_reloads_on_install_or_refuses_and_the_store_follows(tmp_path, edited, capsys):
    """A real service (on the sample photos, looping) whose rules are the store's live set:
    installing tells it to reload and it takes the new bands; when it refuses (its own copy of a
    rule file broken under it), the install is rolled back so the store matches what it runs."""
    store = RuleStore(tmp_path / "store")
    store.install(BALLET)
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": str(REPO / "samples" / "photos"), "camera.loop": True, "display.driver": "dummy",
        "buzzer.enabled": False, "session.state_dir": str(tmp_path / "state"), "rules.dir": str(store.current_link)})
    service = Service(config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    sock = str(tmp_path / "state" / "control.sock")
    try:
        deadline = time.monotonic() + 60
        while service.stats.frames < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert request(sock, "status")["frames"] >= 3
        assert main(["rules", "install", str(edited), "--store", str(store.root), "--socket", sock]) == 0
        assert "accepted the new rules" in capsys.readouterr().out
        assert service.rulebook["arabesque"].checks[0].condition.band == (70.0, 125.0)

        broken = tmp_path / "broken"
        shutil.copytree(edited, broken)
        (broken / "passe.toml").write_text("schema = 1\nmove = \"passe\"\n")  # no checks: refused
        service.config = service.config.with_overrides({"rules.dir": str(broken)})  # what the service will read
        assert main(["rules", "install", str(BALLET), "--store", str(store.root), "--socket", sock]) == 1
        err = capsys.readouterr().err
        assert "refused the new rules" in err and "passe.toml" in err and "rolled back to rule set 2" in err
        assert store.current().number == 2
        assert service.rulebook["arabesque"].checks[0].condition.band == (70.0, 125.0)  # old rules in force
        assert request(sock, "status")["rules"].startswith("arabesque@")
        capsys.readouterr()
        assert main(["status", "--socket", sock]) == 0
        out = capsys.readouterr().out
        assert out.startswith("pi-coach: coaching for") and "rules" in out and "disk" in out and "rules refused" in out
    finally:
        service.stop()
        thread.join(30)
    assert main(["status", "--socket", sock]) == 3  # stopped: "not running"
