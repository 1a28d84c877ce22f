"""Rule files: the shipped set loads, bad files are refused with file:line: reason, rules apply."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_coach.moves import BALLET_MOVES
from pi_coach.rulebook import RuleError, evaluate, load_rule_file, load_rules

from .conftest import make_pose

GOOD = """\
schema = 1
move = "arabesque"

[[check]]
id = "leg_angle"
measure = "angle_between"
points = ["standing_hip", "standing_ankle", "working_hip", "working_ankle"]
band = [90, 125]
too_low = "Lift your {side} leg"
too_high = "Lower your {side} leg"
"""


def write(tmp_path, text, name="rule.toml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_every_ballet_move_has_a_valid_rule_file(ballet):
    assert set(ballet.moves) == set(BALLET_MOVES)
    for rules in ballet.moves.values():
        assert rules.checks and rules.match, rules.move
        assert rules.path.read_text().startswith("#"), f"{rules.path} needs a comment on its technique"


def test_published_arabesque_band(ballet):
    leg = next(c for c in ballet["arabesque"].checks if c.id == "leg_angle")
    assert leg.condition.band == (90, 125) and leg.condition.measure == "angle_between"


@pytest.mark.parametrize("text, line, reason", [
    (GOOD.replace('band = [90, 125]', 'band = [90, 125'), 9, "TOML syntax error"),
    (GOOD.replace('"working_ankle"]', '"working_ancle"]'), 7, "unknown landmark 'working_ancle'"),
    (GOOD.replace('"standing_hip"', '"left_tail"'), 7, "unknown landmark 'left_tail'"),
    (GOOD.replace("[90, 125]", "[125, 90]"), 8, "inverted band"),
    (GOOD.replace('"angle_between"', '"angle_betwen"'), 6, "unknown measure 'angle_betwen'"),
    (GOOD.replace("schema = 1", "schema = 2"), 1, "unsupported schema version 2"),
    (GOOD.replace("schema = 1\n", ""), None, "missing 'schema = 1'"),
    (GOOD.replace('move = "arabesque"', 'move = "Arabesque!"'), 2, "snake_case move id"),
    (GOOD.replace('too_low = "Lift your {side} leg"', 'too_low = "Lift {leg}"'), 9, "unknown placeholder {leg}"),
    (GOOD + 'colour = "red"\n', 11, "unknown key 'colour' in [[check]]"),
    (GOOD.replace("band = [90, 125]", "band = [90, 225]"), 8, "within 0-180"),
    (GOOD.replace('points = ["standing_hip", ', 'points = ['), 7, "needs 'points' as a list of 4"),
    (GOOD.replace('too_low = "Lift your {side} leg"\ntoo_high = "Lower your {side} leg"\n', ""), 5, "needs a message"),
    ("schema = 1\nmove = \"plie\"\n", None, "at least one [[check]]"),
])
def test_bad_rule_files_name_file_line_and_reason(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as err:
        load_rule_file(path)
    assert err.value.line == line
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert "\n" not in str(err.value)


def test_huge_file_is_refused_without_parsing(tmp_path):
    path = write(tmp_path, GOOD + "# padding\n" * 1_000_000)
    assert path.stat().st_size > 10_000_000
    with pytest.raises(RuleError, match="at most 256 KB"):
        load_rule_file(path)


def test_binary_garbage_is_refused(tmp_path):
    with pytest.raises(RuleError, match="not UTF-8|NUL"):
        load_rule_file(write(tmp_path, bytes(range(256)) * 4))
    with pytest.raises(RuleError, match="NUL"):
        load_rule_file(write(tmp_path, b"schema = 1\x00\n"))


def test_directory_keeps_good_files_and_reports_every_bad_one(tmp_path):
    write(tmp_path, GOOD, "arabesque.toml")
    write(tmp_path, GOOD.replace("arabesque", "passe").replace("[90, 125]", "[125, 90]"), "passe.toml")
    write(tmp_path, "schema = ", "broken.toml")
    write(tmp_path, GOOD, "arabesque_copy.toml")
    book, errors = load_rules(tmp_path)
    assert list(book.moves) == ["arabesque"]
    assert sorted(e.path.name for e in errors) == ["arabesque_copy.toml", "broken.toml", "passe.toml"]
    assert any("already defined" in e.reason for e in errors)


def _arabesque_pose(leg_angle: float, working: str = "left"):
    """Standing on one leg; the working leg out behind at ``leg_angle`` degrees from the standing leg."""
    a = math.radians(leg_angle)
    hip_x = 505 if working == "left" else 495
    sign = 1 if working == "left" else -1
    ankle = (hip_x + sign * 360 * math.sin(a), 500 + 360 * math.cos(a))
    knee = ((hip_x + ankle[0]) / 2, (500 + ankle[1]) / 2)
    toe = (ankle[0] + sign * 40 * math.sin(a), ankle[1] + 40 * math.cos(a))
    # Seen from the side: the shoulders and hips nearly overlap, so the view is not "front".
    side_view = {"left_shoulder": (505, 250), "right_shoulder": (495, 250), "left_hip": (505, 500), "right_hip": (495, 500)}
    standing = "right" if working == "left" else "left"
    stand_x = 495 if working == "left" else 505
    side_view.update({f"{standing}_knee": (stand_x, 680), f"{standing}_ankle": (stand_x, 860),
                      f"{standing}_heel": (stand_x, 875), f"{standing}_foot_index": (stand_x - 40, 890)})
    return make_pose({**side_view, f"{working}_knee": knee, f"{working}_ankle": ankle, f"{working}_heel": ankle,
                      f"{working}_foot_index": toe})


@pytest.mark.parametrize("angle, status", [(70, "low"), (100, "ok"), (124, "ok"), (140, "high")])
@pytest.mark.parametrize("working", ["left", "right"])
def test_arabesque_leg_angle_in_both_directions(ballet, angle, status, working):
    verdict = evaluate(ballet["arabesque"], _arabesque_pose(angle, working))
    result = next(r for r in verdict.results if r.check == "leg_angle")
    assert verdict.side == working
    assert result.status == status
    assert abs(result.value - angle) < 1
    if status != "ok":
        assert working in result.message


def test_mirrored_pose_gives_the_same_verdict_on_the_other_side(ballet):
    pose = _arabesque_pose(80, "left")
    a, b = evaluate(ballet["arabesque"], pose), evaluate(ballet["arabesque"], pose.mirrored())
    assert (a.side, b.side) == ("left", "right")
    assert [(r.check, r.status) for r in a.results] == [(r.check, r.status) for r in b.results]
    assert [r.value for r in a.results] == pytest.approx([r.value for r in b.results], abs=1e-3)


def test_invisible_landmarks_are_reported_not_measured(ballet):
    pose = make_pose(hidden=("left_ankle", "left_heel"))
    verdict = evaluate(ballet["first_position"], pose)
    left_knee = next(r for r in verdict.results if r.check == "left_knee_straight")
    assert left_knee.status == "unmeasured" and left_knee.value is None
    assert left_knee.missing == ("left_ankle",)
    # A working-side rule cannot tell the working leg without both ankles.
    arabesque = evaluate(ballet["arabesque"], pose)
    assert arabesque.side is None
    assert all(r.status == "unmeasured" for r in arabesque.results if r.check != "chest_lifted")


def test_corrections_are_ordered_most_severe_first(ballet):
    pose = make_pose({"left_knee": (560, 650), "right_knee": (440, 650), "left_ankle": (505, 800),
                      "right_ankle": (495, 800), "left_foot_index": (505, 830), "right_foot_index": (495, 830),
                      "left_heel": (505, 815), "right_heel": (495, 815)})
    verdict = evaluate(ballet["demi_plie"], pose)
    order = ["minor", "major", "critical"]
    severities = [order.index(r.severity) for r in verdict.corrections]
    assert severities == sorted(severities, reverse=True) and severities


def test_rule_based_match_prefers_the_right_move(ballet):
    assert ballet.best_matches(_arabesque_pose(105))[0] == ("arabesque", 1.0)
    assert ballet.best_matches(make_pose())[0][0] == "first_position"


toml_value = st.recursive(
    st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=True), st.text(max_size=20), st.booleans()),
    lambda inner: st.lists(inner, max_size=5), max_leaves=10)
keys = st.sampled_from(["schema", "move", "check", "match", "id", "measure", "points", "band", "too_low",
                        "too_high", "severity", "reference", "working_side", "min_visibility", "x"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_fuzz_loader_never_crashes_on_arbitrary_bytes(tmp_path, data):
    path = write(tmp_path, data)
    try:
        load_rule_file(path)
    except RuleError as err:
        assert "\n" not in str(err)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(keys, toml_value, max_size=6),
       st.lists(st.dictionaries(keys, toml_value, max_size=8), max_size=3))
def test_fuzz_loader_on_structured_nonsense(tmp_path, top, checks):
    import json

    def toml(v):  # JSON literals are TOML literals for these types, bar NaN/inf and booleans
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return json.dumps(v)

    lines = ["schema = 1", 'move = "fuzz"'] + [f"{k} = {toml(v)}" for k, v in top.items() if k not in ("schema", "move", "check", "match")]
    for c in checks:
        lines.append("[[check]]")
        lines += [f"{k} = {toml(v)}" for k, v in c.items()]
    path = write(tmp_path, "\n".join(lines) + "\n")
    try:
        rules = load_rule_file(path)
    except RuleError as err:
        assert "\n" not in str(err)
    else:
        evaluate(rules, make_pose())
