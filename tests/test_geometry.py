import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_coach import geometry as g

coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord).map(np.array)
any_float = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([math.nan, math.inf, -math.inf]))
any_point = st.tuples(any_float, any_float).map(np.array)


def test_joint_angle_known_values():
    assert math.isclose(g.joint_angle((0, 0), (1, 0), (2, 0)), 180)
    assert math.isclose(g.joint_angle((1, 0), (0, 0), (0, 1)), 90)
    assert math.isclose(g.joint_angle((1, 0), (0, 0), (1, 1)), 45)


def test_angle_between_is_the_leg_line_method():
    # Standing leg straight down from (0, 0); working leg from (10, 0) out behind at 100 degrees.
    standing = ((0, 0), (0, 100))
    a = math.radians(100)
    working = ((10, 0), (10 + 100 * math.sin(a), 100 * math.cos(a)))
    assert math.isclose(g.angle_between(*standing, *working), 100, abs_tol=1e-9)
    crossing = g.line_intersection(*standing, *working)
    # The crossing lies where the lines meet, and the angle there between the rays towards the
    # ankles is the same angle.
    assert crossing is not None
    rays = g.joint_angle(standing[1], crossing, working[1])
    assert math.isclose(rays, 100, abs_tol=1e-6)


def test_parallel_lines_have_no_crossing_but_a_defined_angle():
    assert g.line_intersection((0, 0), (0, 1), (1, 0), (1, 1)) is None
    assert g.angle_between((0, 0), (0, 1), (1, 0), (1, 1)) == 0
    assert g.angle_between((0, 0), (0, 1), (1, 1), (1, 0)) == 180


def test_degenerate_input_gives_nan():
    assert math.isnan(g.joint_angle((0, 0), (0, 0), (1, 1)))
    assert math.isnan(g.joint_angle((math.nan, 0), (0, 0), (1, 1)))
    assert math.isnan(g.angle_between((0, 0), (0, 0), (1, 0), (1, 1)))
    assert math.isnan(g.tilt((1, 1), (1, 1)))
    assert math.isnan(g.distance((0, 0), (1, 1), 0.0))
    assert math.isnan(g.height_above((0, 0), (1, 1), math.nan))
    assert math.isnan(g.offset_along((0, 0), (1, 1), (2, 2), (2, 2), 1.0))
    assert g.line_intersection((0, 0), (0, 0), (1, 0), (1, 1)) is None


def test_tilt_and_heights():
    assert g.tilt((0, 0), (0, 10)) == 0
    assert math.isclose(g.tilt((0, 0), (10, 10)), 45)
    assert math.isclose(g.tilt((0, 0), (10, 0), reference="horizontal"), 0)
    assert g.height_above((0, 100), (0, 50), 50) == 1.0  # y grows downwards
    assert g.offset_along((0, 0), (5, 3), (0, 0), (1, 0), 5) == 1.0


@given(point, point, point)
def test_joint_angle_is_in_range_or_nan(a, b, c):
    v = g.joint_angle(a, b, c)
    assert math.isnan(v) or 0 <= v <= 180


@given(any_point, any_point, any_point, any_point)
def test_nothing_raises_on_any_float(a, b, c, d):
    for v in (g.joint_angle(a, b, c), g.angle_between(a, b, c, d), g.tilt(a, b), g.distance(a, b, 1.0),
              g.height_above(a, b, 1.0), g.offset_along(a, b, c, d, 1.0)):
        assert isinstance(v, float)
    crossing = g.line_intersection(a, b, c, d)
    assert crossing is None or np.all(np.isfinite(crossing))


@settings(max_examples=200)
@given(point, point, point, st.floats(-math.pi, math.pi), st.floats(0.01, 100), point)
def test_joint_angle_is_invariant_to_rotation_scale_and_shift(a, b, c, theta, scale, shift):
    if min(np.linalg.norm(a - b), np.linalg.norm(c - b)) < 1e-3:
        return
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    move = lambda p: rot @ p * scale + shift  # noqa: E731
    before, after = g.joint_angle(a, b, c), g.joint_angle(move(a), move(b), move(c))
    assert math.isclose(before, after, abs_tol=1e-4 * max(1.0, np.abs([a, b, c, shift]).max() / np.linalg.norm(a - b)))


@given(point, point, point, point)
def test_angle_between_is_symmetric_and_flips_with_direction(a, b, c, d):
    v = g.angle_between(a, b, c, d)
    if math.isnan(v):
        return
    assert 0 <= v <= 180
    assert math.isclose(v, g.angle_between(c, d, a, b), abs_tol=1e-9)
    assert math.isclose(g.angle_between(b, a, c, d), 180 - v, abs_tol=1e-6)


@given(point, point)
def test_tilt_is_within_0_90(a, b):
    v = g.tilt(a, b)
    assert math.isnan(v) or 0 <= v <= 90
