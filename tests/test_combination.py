"""Combinations: the file format, the streaming segmenter, the alignment and scoring, and the whole
chain on studio clips with known sequences (moves dropped, swapped, inserted) through the real
move model; then ``analyze VIDEO --combination`` and the live path of the service."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pi_coach.combination import CombinationError, load_combination
from pi_coach.follow import Follower, align, score
from pi_coach.segmenter import MoveSegment, Segmenter, SegmenterSettings, segment_scores

from .conftest import REPO

FIXTURE = REPO / "tests" / "data" / "combinations"
SHORT = REPO / "rules" / "combinations" / "short_adage.toml"


def write(tmp_path, text, name="combo.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the file format ---------------------------------------------------------------------------


def test_shipped_combination_files_load():
    for path in sorted((REPO / "rules" / "combinations").glob("*.toml")):
        combo = load_combination(path)
        assert combo.steps and combo.path == path
    issue = load_combination(REPO / "rules" / "combinations" / "plie_to_arabesque.toml")
    assert issue.moves == ("demi_plie", "demi_plie", "releve", "battement_tendu", "battement_tendu", "passe", "arabesque")
    counted = load_combination(REPO / "rules" / "combinations" / "plie_to_arabesque_counted.toml")
    assert counted.moves == issue.moves and counted.tempo == 60 and counted.steps[-1].seconds(counted.tempo) == 4.0


@pytest.mark.parametrize("text, line, reason", [
    ('schema = 1\nmoves = ["demi_plie",\n   "pliee"]\n', 3, "unknown move 'pliee'"),
    ('schema = 2\nmoves = ["passe"]\n', 1, "unsupported schema version 2"),
    ('moves = ["passe"]\n', 1, "missing 'schema = 1'"),
    ('schema = 1\ntitle = "x"\nmoves = ["passe"]\ncolour = "red"\n', 4, "unknown key 'colour'"),
    ('schema = 1\n\n[[step]]\nmove = "passe"\n\n[[step]]\nmove = "releve"\ncount = 2\n', 8, "unknown key 'count' in [[step]]"),
    ('schema = 1\ntempo = 60\n[[step]]\nmove = "passe"\ncounts = -1\n', 5, "counts must be"),
    ('schema = 1\n[[step]]\nmove = "passe"\ncounts = 2\n', 2, "no tempo"),
    ('schema = 1\ntempo = 900\nmoves = ["passe"]\n', 2, "tempo must be"),
    ('schema = 1\nmoves = ["passe"]\n[[step]]\nmove = "releve"\n', 2, "exactly one of them"),
    ('schema = 1\nmoves = ["passe", "first_position"]\nrest = ["first_position"]\n', 3, "cannot also be a rest"),
    ('schema = 1\nmoves = ["passe"\n', 2, "TOML syntax error"),
    ('schema = 1\nmoves = []\n', 2, "non-empty list"),
])
def test_a_broken_combination_file_is_refused_with_file_line_and_reason(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(CombinationError) as err:
        load_combination(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and reason in str(err.value), str(err.value)


def test_moves_must_be_known_to_the_box(tmp_path):
    path = write(tmp_path, 'schema = 1\nmoves = ["passe", "pas_de_bourree"]\n')
    with pytest.raises(CombinationError, match="unknown move 'pas_de_bourree'"):
        load_combination(path)
    assert load_combination(path, {"passe", "pas_de_bourree"}).moves == ("passe", "pas_de_bourree")


# --- the segmenter -----------------------------------------------------------------------------


RAW = SegmenterSettings(latency_frames=0)  # made-up score streams have no model delay to undo


def stream(*parts):
    """(frame, time, scores) from runs of (move, score, frames); the rest of the mass on none."""
    out, t = [], 0
    for move, value, n in parts:
        for _ in range(n):
            scores = {"none": 1.0 - value} if move != "none" else {"none": value}
            if move != "none":
                scores[move] = value
            out.append((t, t / 30, scores))
            t += 1
    return out


def test_a_held_move_is_one_segment_with_its_peak_and_hold():
    (seg,) = segment_scores(stream(("none", 1.0, 10), ("passe", 0.95, 30), ("none", 1.0, 10)), RAW)
    assert seg.move == "passe" and abs(seg.start_frame - 10) <= 1 and abs(seg.end_frame - 39) <= 3
    assert seg.peak > 0.9 and 0.7 < seg.hold <= 1.0 and not seg.open


def test_hysteresis_a_dip_above_release_does_not_split_a_move():
    frames = stream(("none", 1.0, 10), ("passe", 0.95, 20), ("passe", 0.6, 10), ("passe", 0.95, 20), ("none", 1.0, 10))
    assert [s.move for s in segment_scores(frames, RAW)] == ["passe"]
    # below the release for longer than gap_frames, it is two
    frames = stream(("none", 1.0, 10), ("passe", 0.95, 20), ("none", 1.0, 15), ("passe", 0.95, 20), ("none", 1.0, 10))
    assert [s.move for s in segment_scores(frames, RAW)] == ["passe", "passe"]


def test_a_blip_shorter_than_min_frames_is_not_a_move():
    frames = stream(("none", 1.0, 10), ("arabesque", 0.95, 3), ("none", 1.0, 10), ("passe", 0.95, 20), ("none", 1.0, 5))
    assert [s.move for s in segment_scores(frames)] == ["passe"]
    assert [s.move for s in segment_scores(frames, SegmenterSettings(min_frames=1, smoothing=1.0))] == ["arabesque", "passe"]


def test_flicker_round_the_threshold_stays_one_move_where_the_published_rule_makes_many():
    from tools.combo_eval import published_segments

    flicker = [("releve", 0.92 if k % 2 else 0.78, 3) for k in range(10)]
    frames = stream(("none", 1.0, 10), *flicker, ("none", 1.0, 10))
    assert [s.move for s in segment_scores(frames)] == ["releve"]
    assert len(published_segments(frames)) == 5


def test_streaming_updates_say_when_a_move_starts_and_ends():
    seg, events = Segmenter(), []
    for frame, time, scores in stream(("none", 1.0, 10), ("passe", 0.95, 20), ("releve", 0.95, 20)):
        events += [(s.move, s.open) for s in seg.update(frame, time, scores)]
    events += [(s.move, s.open) for s in seg.finish()]
    assert events == [("passe", True), ("passe", False), ("releve", True), ("releve", False)]
    assert seg.segments[0].end_frame < seg.segments[1].start_frame


# --- alignment and scoring ---------------------------------------------------------------------

E = ["demi_plie", "releve", "passe", "arabesque"]


def kinds(ops):
    return [(o.kind, o.step, o.segment) for o in ops if o.kind != "matched"]


def test_alignment_dropped_swapped_inserted_wrong_and_moved():
    assert kinds(align(E, E)) == []
    assert kinds(align(E, ["demi_plie", "passe", "arabesque"])) == [("missing", 1, None)]
    assert sorted(kinds(align(E, ["demi_plie", "passe", "releve", "arabesque"]))) == [("swapped", 1, 2), ("swapped", 2, 1)]
    assert kinds(align(E, ["demi_plie", "releve", "battement_tendu", "passe", "arabesque"])) == [("extra", None, 2)]
    assert kinds(align(E, ["demi_plie", "grand_plie", "passe", "arabesque"])) == [("wrong", 1, 1)]
    assert kinds(align(E, ["demi_plie", "arabesque", "releve", "passe"])) == [("moved", 3, 1)]


def test_live_alignment_says_what_comes_next():
    def live(danced):
        ops = align(E, danced, prefix=True)
        return kinds(ops), max((o.step for o in ops if o.step is not None), default=-1) + 1

    assert live([]) == ([], 0)
    assert live(["demi_plie"]) == ([], 1)
    assert live(["demi_plie", "passe"]) == ([("missing", 1, None)], 3)  # relevé skipped: arabesque next
    assert live(["demi_plie", "passe", "releve"])[1] == 3  # ... then danced late: swapped, still arabesque next
    assert live(["demi_plie", "battement_tendu"]) == ([("extra", None, 1)], 1)  # an extra: relevé still next


def seg(move, start, end, hold=0.5):
    return MoveSegment(move, start, end, start / 30, end / 30, 0.95, hold)


def test_scoring_and_its_explanation():
    combo = load_combination(SHORT)
    perfect = score(combo, [seg(m, 30 * k, 30 * k + 20) for k, m in enumerate(E)])
    assert perfect.score == 100 and perfect.flags == []
    dropped = score(combo, [seg(m, 30 * k, 30 * k + 20) for k, m in enumerate(["demi_plie", "passe", "arabesque"])])
    assert dropped.score == 75 and dropped.flags == [("missing", "releve")]
    swapped = score(combo, [seg(m, 30 * k, 30 * k + 20) for k, m in enumerate(["demi_plie", "passe", "releve", "arabesque"])])
    assert swapped.score == 75 and sorted(swapped.flags) == [("swapped", "passe"), ("swapped", "releve")]
    inserted = score(combo, [seg(m, 30 * k, 30 * k + 20) for k, m in
                             enumerate(["demi_plie", "releve", "battement_tendu", "passe", "arabesque"])])
    assert inserted.score == round(100 * 3.5 / 4) and inserted.flags == [("extra", "battement_tendu")]
    rested = score(combo, [seg("first_position", 0, 10)] + [seg(m, 30 * k + 30, 30 * k + 50) for k, m in enumerate(E)])
    assert rested.score == 100 and len(rested.rests) == 1, "first position between steps is a rest, not an extra"
    text = "\n".join(dropped.describe())
    assert "score 75/100" in text and "2. releve: missing" in text and "scoring:" in text
    doc = json.loads(json.dumps(dropped.to_json()))
    assert doc["score"] == 75 and doc["steps"][1]["status"] == "missing" and doc["flags"] == [{"kind": "missing", "move": "releve"}]


def test_counts_and_tempo_time_each_step():
    combo = load_combination(REPO / "rules" / "combinations" / "plie_to_arabesque_counted.toml")
    moves = combo.moves
    in_time = [MoveSegment(m, k, k, 10.0 * k, 10.0 * k + s.seconds(combo.tempo), 0.9, 1.0)
               for k, (m, s) in enumerate(zip(moves, combo.steps))]
    assert score(combo, in_time).score == 100
    rushed = [MoveSegment(m, k, k, 10.0 * k, 10.0 * k + 0.3 * s.seconds(combo.tempo), 0.9, 0.1)
              for k, (m, s) in enumerate(zip(moves, combo.steps))]
    result = score(combo, rushed)
    assert result.score == 75 and all("too short" in s.note for s in result.steps)


def test_the_follower_flags_live_and_scores_at_the_end():
    combo = load_combination(SHORT)
    f = Follower(combo)
    assert f.state.next_move == "demi_plie"
    states = []
    for k, m in enumerate(["demi_plie", "passe", "releve", "arabesque"]):
        s = seg(m, 30 * k, 30 * k + 20)
        states.append(f.started(MoveSegment(**{**s.__dict__, "open": True})))
        states.append(f.ended(s))
    assert states[0].next_move == "releve" and states[0].flag == ""
    assert states[2].flag == "Missed: Releve" and states[2].next_move == "arabesque"
    assert "Out of order: Releve" in states[4].flag and states[4].next_move == "arabesque"
    assert states[-1].done
    result = f.result()
    assert result.score == 75 and sorted(result.flags) == [("swapped", "passe"), ("swapped", "releve")]
    assert f.state.next_move == "demi_plie" and f.result() is None, "a new attempt starts afresh"


# --- the whole chain on studio clips, through the real model --------------------------------

# Measured with `python -m tools.combo_eval tests/data/combinations` on the shipped model (see the
# README): the asserts leave a margin so that a retrained (better) model passes too.
MIN_BOUNDARY_PRECISION = 0.85  # measured 0.989
MIN_BOUNDARY_RECALL = 0.75  # measured 0.906


def test_studio_clips_with_known_sequences_are_segmented_and_flagged():
    from tools.combo_eval import evaluate

    doc = evaluate([str(FIXTURE)])
    clips = doc["clips"]
    variants = {c["variant"] for c in clips}
    assert {"exact", "missing", "swapped", "extra"} <= variants and len(clips) >= 12
    assert doc["boundaries"]["precision"] >= MIN_BOUNDARY_PRECISION, doc["boundaries"]
    assert doc["boundaries"]["recall"] >= MIN_BOUNDARY_RECALL, doc["boundaries"]
    # measured with the shipped model: every dropped relevé flagged (3 of 3), the swap in 2 of 3 (in
    # the third the model misses the relevé) and the inserted tendu in 2 of 3 (in the third it misses
    # the tendu and the closing arabesque)
    for variant, least in (("missing", 2), ("swapped", 2), ("extra", 1)):
        of = [c for c in clips if c["variant"] == variant]
        assert sum(c["flagged"] for c in of) >= least, [(c["sample"], c["true_flags"], c["flags"]) for c in of]
    assert doc["flagged"] >= 8 and doc["flags_exact"] >= 7  # measured 10 and 9 of 12
    # a flagged variant scores below a clean run of the same combination
    assert max(c["score"] for c in clips if c["variant"] != "exact" and c["flagged"]) < 100
    # better than appending a move whenever the raw confidence passes 0.8, on the same scores
    assert doc["boundaries"]["f1"] > doc["published_boundaries"]["f1"]


def test_the_fixture_is_what_its_readme_says():
    rows = list(csv.DictReader((FIXTURE / "labels.csv").open()))
    for r in rows:
        lm = np.load(FIXTURE / "landmarks" / f"{r['sample']}.npy")
        truth = json.loads((FIXTURE / "truth" / f"{r['sample']}.json").read_text())
        assert lm.shape == (int(r["frames"]), 33, 4) and len(truth["frame_moves"]) == int(r["frames"])
        assert (REPO / r["combination"]).is_file()


# --- the command line and the service ----------------------------------------------------------


def test_analyze_video_with_a_combination(tmp_path):
    video = REPO / "samples" / "video" / "stepping.webm"
    out = subprocess.run([sys.executable, "-m", "pi_coach.cli", "analyze", str(video), "--combination", str(SHORT),
                          "--json", "--quiet", "--step", "2"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)["combination"]
    assert 0 <= doc["score"] <= 100 and [s["move"] for s in doc["steps"]] == list(E)
    assert doc["file"] == str(SHORT) and "scoring" in doc
    # stepping side to side is not this adage: its steps come out missing (or danced as something else)
    assert sum(s["status"] != "matched" for s in doc["steps"]) >= 3
    bad = write(tmp_path, 'schema = 1\nmoves = ["demi_plie",\n  "plie"]\n')
    out = subprocess.run([sys.executable, "-m", "pi_coach.cli", "analyze", str(video), "--combination", str(bad)],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 2 and f"{bad}:3: unknown move 'plie'" in out.stderr


def test_the_service_follows_a_combination_live(tmp_path, monkeypatch):
    """The live path: frames from a real video, the poses of a studio clip where relevé was
    dropped (the recorded MediaPipe landmarks, replayed in step with the frames), the real model,
    the OLED on luma's dummy device, the buzzer on gpiozero's mock pins, the real session log."""
    import sqlite3

    from pi_coach.config import load_config
    from pi_coach.feedback import oled
    from pi_coach.pose import Pose
    from pi_coach.service import ConsoleSink, Service

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    rows = list(csv.DictReader((FIXTURE / "labels.csv").open()))
    row = next(r for r in rows if r["sequence"] == "demi_plie+passe+arabesque")
    clip = np.load(FIXTURE / "landmarks" / f"{row['sample']}.npy").astype(np.float32)

    class Replay:
        def estimate(self, image, timestamp):
            k = round(timestamp * 30)
            return Pose(clip[k], int(row["width"]), int(row["height"]), timestamp) if k < len(clip) else None

        def close(self):
            pass

    lines = []
    real_render = oled.render
    monkeypatch.setattr(oled, "render", lambda s, notice="", combo="": lines.append(combo) or real_render(s, notice, combo))
    config = load_config(REPO / "deploy" / "config.toml").with_overrides({
        "camera.source": str(REPO / "samples" / "video" / "stepping.webm"), "camera.realtime": False,
        "display.driver": "dummy", "display.min_interval": 0.0, "session.state_dir": str(tmp_path),
        "combination.file": str(SHORT)})
    console = tmp_path / "console.txt"
    with console.open("w") as stream:
        service = Service(config, console=ConsoleSink(stream), estimator_factory=Replay)
        assert service.run() == 0
    assert "Next: Demi-plié 1/4" in lines and "Missed: Relevé" in lines
    assert any(line.startswith("Score ") for line in lines), "the attempt is scored on the screen at its end"
    db = sqlite3.connect(tmp_path / "sessions.db")
    (detail,) = db.execute("SELECT detail FROM events WHERE kind = 'combination'").fetchone()
    result = json.loads(detail)
    assert {"kind": "missing", "move": "releve"} in result["flags"] and result["score"] <= 75
    assert "combination Short adage: score" in console.read_text()


def test_the_service_refuses_a_broken_combination_file(tmp_path):
    bad = write(tmp_path, 'schema = 1\nmoves = ["passe", "arabesk"]\n')
    out = subprocess.run([sys.executable, "-m", "pi_coach.cli", "run", "--source", str(REPO / "samples" / "photos"),
                          "--display", "none", "--state-dir", str(tmp_path), "--combination", str(bad)],
                         capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"})
    assert out.returncode == 1 and f"{bad}:2: unknown move 'arabesk'" in out.stderr
