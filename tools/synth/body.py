"""The synthetic dancer's body: Anny (a parametric, rigged human) posed by joint rotations.

World frame (Anny's): metres, x to the dancer's left, y backwards, z up; the dancer faces -y.
Rotations are given per bone as steps ``[(axis, degrees), ...]`` about those axes in the bone's
parent-posed frame (Anny's ``local-ref`` parameterisation), the first step applied first: for a
leg, x < 0 swings it forward and x > 0 back; y < 0 opens the left leg to the side; z > 0 turns
the left leg out. A knee or elbow bends about x of its parent's posed frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Body parts by the bone that moves a vertex most; they decide what a vertex is dressed in.
PARTS = ("skin", "torso", "legs", "feet", "hair")
SKIN, TORSO, LEGS, FEET, HAIR = range(len(PARTS))

# MediaPipe landmark -> Anny keypoint(s) it is placed at (mean when several).
KEYPOINT_MAP = {
    "nose": ("nose",), "left_eye": ("left_eye",), "right_eye": ("right_eye",),
    "left_ear": ("left_ear",), "right_ear": ("right_ear",),
    "left_shoulder": ("left_shoulder",), "right_shoulder": ("right_shoulder",),
    "left_elbow": ("left_elbow",), "right_elbow": ("right_elbow",),
    "left_wrist": ("left_wrist",), "right_wrist": ("right_wrist",),
    "left_hip": ("left_hip",), "right_hip": ("right_hip",),
    "left_knee": ("left_knee",), "right_knee": ("right_knee",),
    "left_ankle": ("left_ankle",), "right_ankle": ("right_ankle",),
    "left_heel": ("left_heel",), "right_heel": ("right_heel",),
    "left_foot_index": ("left_big_toe", "left_small_toe"), "right_foot_index": ("right_big_toe", "right_small_toe"),
}


@dataclass(frozen=True, eq=False)
class PosedBody:
    """One posed body: mesh vertices, faces, per-vertex part, and named 3-D joints (metres)."""

    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    parts: np.ndarray  # (V,) part index
    joints: dict[str, np.ndarray]  # MediaPipe landmark name -> (3,)


def axis_rotation(axis: str, degrees: float) -> np.ndarray:
    """The 3x3 rotation about world axis x, y or z."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rotation(steps) -> np.ndarray:
    """Compose ``[(axis, degrees), ...]``, the first step applied first (R = R_n ... R_1)."""
    r = np.eye(3)
    for axis, degrees in steps:
        r = axis_rotation(axis, degrees) @ r
    return r


class BodyModel:
    """Anny loaded once per process; ``pose`` gives a PosedBody for a phenotype and rotations."""

    def __init__(self):
        import anny  # torch, warp and anny are the synth extra; imported only here
        import torch

        self._torch = torch
        self.model = anny.Anny()
        self.keypoints = anny.KeypointsRegressor.coco(self.model)
        self.bones = list(self.model.bone_labels)
        self.faces = self.model.get_triangular_faces().numpy().astype(np.int32)
        idx = self.model.vertex_bone_indices.numpy()
        weights = self.model.vertex_bone_weights.numpy()
        dominant = [self.bones[i] for i in idx[np.arange(len(idx)), weights.argmax(1)]]
        self.base_parts = np.array([_part_of(b) for b in dominant], np.int8)
        self.phenotypes = list(self.model.phenotype_labels)

    def pose(self, phenotype: dict[str, float], rotations: dict[str, list[tuple[str, float]]],
             lift: float = 0.0, hair_style: str = "bun") -> PosedBody:
        """Pose the body and stand it on the floor (z = 0), or ``lift`` metres above it."""
        torch = self._torch
        params = {}
        for bone, steps in rotations.items():
            if bone not in self.bones:
                raise KeyError(f"unknown bone {bone!r}")
            t = torch.eye(4, dtype=torch.float64)
            t[:3, :3] = torch.from_numpy(rotation(steps))
            params[bone] = t[None]
        pheno = {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in phenotype.items()}
        with torch.no_grad():
            out = self.model(pose_parameters=params, phenotype_kwargs=pheno)
            kp = self.keypoints(out)[0].numpy()
        vertices = out["vertices"][0].numpy().copy()
        shift = np.array([0.0, 0.0, lift - vertices[:, 2].min()])
        vertices += shift
        kp = kp + shift
        names = self.keypoints.labels
        joints = {mp: np.mean([kp[names.index(k)] for k in keys], axis=0) for mp, keys in KEYPOINT_MAP.items()}
        parts = self.base_parts.copy()
        _add_hair(vertices, parts, joints, hair_style)
        return PosedBody(vertices, self.faces, parts, joints)


def _part_of(bone: str) -> int:
    if bone.startswith(("spine", "pelvis", "clavicle", "shoulder", "root")):
        return TORSO
    if bone.startswith(("upperleg", "lowerleg")):
        return LEGS
    if bone.startswith(("foot", "toe")):
        return FEET
    return SKIN


def _add_hair(vertices: np.ndarray, parts: np.ndarray, joints: dict, style: str) -> None:
    """Mark the scalp as hair: head vertices above the ears' line and behind the eyes."""
    head = parts == SKIN
    ears = (joints["left_ear"] + joints["right_ear"]) / 2
    eyes = (joints["left_eye"] + joints["right_eye"]) / 2
    up = eyes - (joints["left_shoulder"] + joints["right_shoulder"]) / 2
    up /= np.linalg.norm(up)
    forward = eyes - ears
    forward -= up * forward.dot(up)
    forward /= max(np.linalg.norm(forward), 1e-9)
    rel = vertices - ears
    height, ahead = rel @ up, rel @ forward
    near = np.linalg.norm(rel, axis=1) < 0.16
    scalp = head & near & ((height > 0.045) | ((ahead < -0.01) & (height > -0.04 if style == "bun" else height > -0.12)))
    parts[scalp] = HAIR
