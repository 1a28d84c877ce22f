"""The pose library: each ballet move as joint targets, with natural variation and named faults.

A move is written for a LEFT working leg as bone -> rotation steps (see body.py for the axes);
``mirror`` turns it into the right-leg version. Faults change the targets by a magnitude drawn
from the fault's range, recorded as ground truth (degrees unless the fault says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Steps = list[tuple[str, float]]
Pose = dict[str, Steps]

TOES = [f"toe{i}-1" for i in range(1, 6)]
NATURAL_SD = 4.0  # degrees of natural variation on every step


# --- building blocks (left side; "L"/"R" name the dancer's own side) --------------------------


def leg(side: str, steps: Steps) -> Pose:
    return {f"upperleg01.{side}": steps}


def knee(side: str, bend: float) -> Pose:
    return {f"lowerleg01.{side}": [("x", bend)]}


def foot(side: str, point: float = 0.0, toes: float = 0.0, turn: float = 0.0) -> Pose:
    """``point`` > 0 points the foot (heel up); ``toes`` < 0 bends the toes up (demi-pointe)."""
    pose = {f"foot.{side}": [("x", point), ("z", turn)]}
    for toe in TOES:
        pose[f"{toe}.{side}"] = [("x", toes)]
    return pose


def arms(name: str, side: str = "L") -> Pose:
    """Ballet arm positions for both arms; ``side`` is the working side where it matters."""
    other = "R" if side == "L" else "L"
    # (upper arm steps, forearm bend) for the LEFT arm; mirrored for the right.
    positions = {
        "bras_bas": ([("x", -10), ("y", 25)], -20),
        "first": ([("x", -55), ("y", 15)], -35),
        "second": ([("x", -12), ("y", -38)], -15),
        "fifth": ([("x", -20), ("y", -125)], -30),
        "low": ([("y", 30)], -5),
        "hips": ([("x", 20), ("y", 10)], -110),
        "forward": ([("x", -85), ("y", -10)], -5),
    }
    if name == "arabesque":  # the arm on the standing side reaches forward, the other to the side
        front, back = positions["forward"], ([("x", 5), ("y", -40)], -5)
        return {**_arm(other, *front), **_arm(side, *back)}
    upper, bend = positions[name]
    return {**_arm("L", upper, bend), **_arm("R", upper, bend)}


def _arm(side: str, upper: Steps, bend: float) -> Pose:
    """One arm; steps are written for the left arm and mirrored for the right."""
    pose = {"upperarm01.L": upper, "lowerarm01.L": [("x", bend)]}
    return pose if side == "L" else mirror_side(pose)


def spine(forward: float = 0.0, side: float = 0.0) -> Pose:
    """Bend the torso forward (> 0) or sideways, spread over three spine bones."""
    # Measured on renders, three bones at a third each lean the shoulders by only ~40% of the
    # total, so each bone takes forward / 1.2: the torso then leans by about ``forward``.
    return {b: [("x", forward / 1.2), ("y", side / 1.2)] for b in ("spine01", "spine02", "spine03")}


def merge(*poses: Pose) -> Pose:
    out: Pose = {}
    for p in poses:
        for bone, steps in p.items():
            out[bone] = out.get(bone, []) + list(steps)
    return out


def mirror_side(pose: Pose) -> Pose:
    """The same pose on the other side: .L and .R swapped, y and z rotations negated."""
    out = {}
    for bone, steps in pose.items():
        other = bone[:-2] + (".R" if bone.endswith(".L") else ".L") if bone[-2:] in (".L", ".R") else bone
        out[other] = [(a, -d if a in "yz" else d) for a, d in steps]
    return out


def standing_leg(side: str, turnout: float, bend: float = 0.0, relevé: float = 0.0) -> Pose:
    """A supporting leg, its foot flat (or on demi-pointe with ``relevé``)."""
    sign = 1 if side == "L" else -1
    return merge(leg(side, [("x", -bend / 2), ("z", sign * turnout)]), knee(side, bend),
                 foot(side, point=-bend / 2 + relevé, toes=-relevé))


# --- the moves ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A named way of getting a move wrong: the range of its magnitude, and the ids of the checks
    in the move's rule file (rules/ballet) that should flag it. ``looks_like`` names the move the
    body then is by definition (a grand plié no deeper than a demi-plié is a demi-plié): no pose
    classifier can know it was meant as the other, so the move models neither learn nor are scored
    on such samples as the intended move (tools/movedata.py)."""

    name: str
    low: float
    high: float
    checks: tuple[str, ...]
    unit: str = "deg"
    looks_like: str = ""


@dataclass(frozen=True)
class Move:
    """A move: how to build its pose for a magnitude per fault, and its faults."""

    id: str
    faults: tuple[Fault, ...]
    lift: tuple[float, float] = (0.0, 0.0)  # metres off the floor (a leap)


def first_position(f: dict) -> Pose:
    apart = f.get("heels_apart", 0.0)
    legs = merge(leg("L", [("z", 40), ("y", 10 - apart)]), leg("R", [("z", -40), ("y", -10 + apart)]))
    bend = f.get("knees_bent", 0.0)
    return merge(legs, knee("L", bend), knee("R", bend), foot("L", -bend), foot("R", -bend),
                 spine(forward=f.get("torso_leaning", 0.0)))


def plie(depth_hip: float, depth_knee: float, heel: float, f: dict) -> Pose:
    turn = 40 - f.get("knees_rolling_in", 0.0)
    feet_turn = f.get("knees_rolling_in", 0.0)  # the feet stay turned out while the knees roll in
    hip = depth_hip * (1 - f.get("too_shallow", 0.0) / 100)
    bend = depth_knee * (1 - f.get("too_shallow", 0.0) / 100)
    lift = heel + f.get("heels_lifted", 0.0)
    pose = merge(leg("L", [("x", -hip), ("y", 4), ("z", turn)]), leg("R", [("x", -hip), ("y", -4), ("z", -turn)]),
                 knee("L", bend), knee("R", bend),
                 foot("L", -(bend - hip) + lift, toes=-lift, turn=feet_turn),
                 foot("R", -(bend - hip) + lift, toes=-lift, turn=-feet_turn),
                 spine(forward=f.get("torso_leaning", 0.0) + f.get("back_leaning", 0.0)))
    return pose


def releve(f: dict, crossed: bool = False) -> Pose:
    rise = (70 if crossed else 60) - f.get("heels_low", 0.0)
    cross = 13 - f.get("legs_apart", 0.0) if crossed else 4
    bend = f.get("knees_bent", 0.0)
    front = -4 if crossed else 0
    pose = merge(leg("L", [("x", front - bend / 2), ("y", cross), ("z", 40)]),
                 leg("R", [("x", -front - bend / 2), ("y", -cross), ("z", -40)]),
                 knee("L", bend), knee("R", bend + f.get("uneven", 0.0)),
                 foot("L", rise - bend / 2, toes=-rise), foot("R", rise - bend / 2 - f.get("uneven", 0.0), toes=-rise))
    return pose


def tendu(f: dict, direction: str) -> Pose:
    out = 30 + f.get("toes_off_floor", 0.0)
    bend = f.get("working_knee_bent", 0.0)
    if direction == "side":
        working = leg("L", [("z", 40), ("y", -out)])
    elif direction == "front":
        working = leg("L", [("z", 40), ("x", -out)])
    else:
        working = leg("L", [("z", 40), ("x", out)])
    return merge(working, knee("L", bend), foot("L", 55 - f.get("foot_not_pointed", 0.0) - bend),
                 standing_leg("R", 40, f.get("standing_knee_bent", 0.0)))


def passe(f: dict) -> Pose:
    low = f.get("toe_below_knee", 0.0)
    turn = 80 - f.get("knee_turned_in", 0.0)
    return merge(leg("L", [("x", -70 + low), ("z", turn)]), knee("L", 140 - low * 1.4), foot("L", 30),
                 standing_leg("R", 35, f.get("standing_knee_bent", 0.0)))


def arabesque(f: dict) -> Pose:
    height = 100 - f.get("leg_too_low", 0.0)
    bend = f.get("working_knee_bent", 0.0)
    return merge(leg("L", [("z", 35), ("x", height)]), knee("L", bend), foot("L", 55),
                 standing_leg("R", 35, f.get("standing_knee_bent", 0.0)), spine(forward=12))


def attitude(f: dict) -> Pose:
    height = 85 - f.get("knee_too_low", 0.0)
    bend = 85 - f.get("knee_too_straight", 0.0)
    return merge(leg("L", [("z", 45), ("x", height)]), knee("L", bend), foot("L", 45),
                 standing_leg("R", 35, f.get("standing_knee_bent", 0.0)), spine(forward=8))


def grand_jete(f: dict) -> Pose:
    split = (170 - f.get("split_too_small", 0.0)) / 2
    bend = f.get("knee_bent", 0.0)
    return merge(leg("L", [("z", 20), ("x", split)]), leg("R", [("z", -20), ("x", -split)]),
                 knee("L", bend), foot("L", 55), foot("R", 55), spine(forward=-5))


KNEES = ("left_knee_straight", "right_knee_straight")
KNEES_OVER_TOES = ("left_knee_over_toes", "right_knee_over_toes")
STANDING_KNEE = Fault("standing_knee_bent", 25, 40, ("standing_knee_straight",))

MOVES = {
    "first_position": Move("first_position", (Fault("knees_bent", 18, 35, KNEES), Fault("torso_leaning", 15, 30, ("torso_upright",)),
                                              Fault("heels_apart", 10, 18, ("heels_together",)))),
    "demi_plie": Move("demi_plie", (Fault("heels_lifted", 35, 55, ("heels_down",)), Fault("knees_rolling_in", 30, 45, KNEES_OVER_TOES),
                                    Fault("torso_leaning", 18, 35, ("torso_upright",)))),
    "grand_plie": Move("grand_plie", (Fault("too_shallow", 40, 55, ("depth",), "percent of depth", "demi_plie"),
                                      Fault("back_leaning", 20, 40, ("back_upright",)), Fault("knees_rolling_in", 30, 45, KNEES_OVER_TOES))),
    "releve": Move("releve", (Fault("heels_low", 35, 45, ("heels_high",)), Fault("knees_bent", 20, 35, KNEES),
                              Fault("uneven", 25, 40, ("rise_even",)))),
    "sous_sus": Move("sous_sus", (Fault("legs_apart", 14, 22, ("legs_together",), looks_like="releve"), Fault("heels_low", 45, 55, ("heels_high",)),
                                  Fault("knees_bent", 20, 35, KNEES))),
    "battement_tendu": Move("battement_tendu", (Fault("working_knee_bent", 25, 45, ("working_knee_straight",)),
                                                Fault("toes_off_floor", 20, 35, ("toes_on_floor",)), STANDING_KNEE)),
    "passe": Move("passe", (Fault("toe_below_knee", 30, 45, ("toe_at_knee",)), Fault("knee_turned_in", 60, 80, ("knee_open",)),
                            STANDING_KNEE)),
    "arabesque": Move("arabesque", (Fault("leg_too_low", 30, 55, ("leg_angle",)),
                                    Fault("working_knee_bent", 30, 60, ("working_knee_straight",)), STANDING_KNEE)),
    "attitude": Move("attitude", (Fault("knee_too_straight", 55, 75, ("working_knee_curve",), looks_like="arabesque"),
                                  Fault("knee_too_low", 45, 60, ("working_knee_height",)), STANDING_KNEE)),
    "grand_jete": Move("grand_jete", (Fault("split_too_small", 50, 80, ("split",)), Fault("knee_bent", 35, 60, KNEES)),
                       lift=(0.25, 0.5)),
}

BUILDERS = {
    "first_position": first_position,
    "demi_plie": lambda f: plie(35, 65, 0.0, f),
    "grand_plie": lambda f: plie(70, 125, 12.0, f),
    "releve": releve,
    "sous_sus": lambda f: releve(f, crossed=True),
    "battement_tendu": None,  # direction chosen per sample
    "passe": passe,
    "arabesque": arabesque,
    "attitude": attitude,
    "grand_jete": grand_jete,
}

# The arm positions a dancer may hold in each move, the classical one first. Dancers practise a
# passé with hands on hips or arms in first as well as in fifth, so a move model must read the legs;
# given a single port de bras per move it learns the arms instead (models/MODEL_CARD.md).
PORT_DE_BRAS = {
    "first_position": ("bras_bas", "first", "second"),
    "demi_plie": ("second", "bras_bas", "first", "fifth"),
    "grand_plie": ("second", "bras_bas", "first", "fifth"),
    "releve": ("first", "bras_bas", "second", "fifth"),
    "sous_sus": ("fifth", "first", "second", "bras_bas"),
    "battement_tendu": ("second", "bras_bas", "first", "hips"),
    "passe": ("fifth", "first", "second", "hips"),
    "arabesque": ("arabesque", "second", "forward"),
    "attitude": ("fifth", "arabesque", "second"),
    "grand_jete": ("arabesque", "second", "fifth"),
}


def port_de_bras(move: str, rng: np.random.Generator, variety: float) -> str:
    """The arms for one move: another of its positions with probability ``variety``, else the
    classical one ("" for the neutral class, whose everyday poses bring their own arms)."""
    options = PORT_DE_BRAS.get(move)
    if not options:
        return ""
    return str(rng.choice(options[1:])) if rng.uniform() < variety else options[0]


# The neutral class: not a ballet move (standing about, walking, everyday poses).
NEUTRAL_KINDS = ("standing", "walking", "hands_on_hips", "arms_crossed", "stretch_up")


def neutral(kind: str, rng: np.random.Generator) -> Pose:
    if kind == "walking":
        phase = rng.uniform(-1, 1)
        swing = 25 * phase
        return merge(leg("L", [("x", -swing)]), leg("R", [("x", swing)]),
                     knee("L", max(0.0, 40 * phase)), knee("R", max(0.0, -40 * phase)),
                     {"upperarm01.L": [("x", swing * 0.8), ("y", 35)], "upperarm01.R": [("x", -swing * 0.8), ("y", -35)]})
    shift = rng.uniform(-6, 6)
    base = merge(leg("L", [("y", shift + 3), ("z", rng.uniform(-5, 15))]), leg("R", [("y", shift - 3), ("z", -rng.uniform(-5, 15))]),
                 knee("L", rng.uniform(0, 12)), knee("R", rng.uniform(0, 12)))
    if kind == "hands_on_hips":
        return merge(base, arms("hips"))
    if kind == "arms_crossed":
        return merge(base, _arm("L", [("x", -25), ("y", 35), ("z", 30)], -120), _arm("R", [("x", -25), ("y", 35), ("z", 30)], -120))
    if kind == "stretch_up":
        return merge(base, _arm("L", [("y", -140)], -10), _arm("R", [("y", -120)], -10), spine(side=rng.uniform(-15, 15)))
    return merge(base, arms("low"))


def build(move: str, fault: str | None, magnitude: float, side: str, rng: np.random.Generator,
          arm_position: str = "") -> tuple[Pose, float]:
    """The pose (bone -> steps) and lift for one sample, with natural variation; the arms are
    ``arm_position`` (default: the move's classical port de bras)."""
    faults = {fault: magnitude} if fault else {}
    if move == "none":
        pose, lift = neutral(rng.choice(NEUTRAL_KINDS), rng), 0.0
    elif move == "battement_tendu":
        pose, lift = tendu(faults, rng.choice(["side", "front", "back"])), 0.0
    else:
        pose = BUILDERS[move](faults)
        low, high = MOVES[move].lift
        lift = float(rng.uniform(low, high))
    if move != "none":
        pose = merge(pose, arms(arm_position or PORT_DE_BRAS[move][0]))
    pose = {bone: [(a, d + rng.normal(0, NATURAL_SD)) for a, d in steps] for bone, steps in pose.items()}
    pose = merge(pose, {"neck01": [("x", rng.normal(0, 5)), ("z", rng.normal(0, 8))]})
    return (mirror_side(pose) if side == "right" else pose), lift


def interpolate(a: Pose, b: Pose, t: float) -> Pose:
    """Blend two poses: matching steps are mixed; otherwise ``a`` fades out while ``b`` fades in."""
    out = {}
    for bone in set(a) | set(b):
        sa, sb = a.get(bone, []), b.get(bone, [])
        if [ax for ax, _ in sa] == [ax for ax, _ in sb]:
            out[bone] = [(ax, da * (1 - t) + db * t) for (ax, da), (_, db) in zip(sa, sb)]
        else:
            out[bone] = [(ax, d * (1 - t)) for ax, d in sa] + [(ax, d * t) for ax, d in sb]
    return out
