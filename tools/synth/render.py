"""A small software renderer for the synthetic dancer: a pinhole camera, a studio room and a
painter's-algorithm rasteriser (OpenCV polygon fills, far faces first, Lambert shading).

It is meant to look enough like a studio photo for MediaPipe to see a person: shaded body in
leotard, tights, shoes and hair; walls, floors, barres, mirrors; varied light. Not photo-real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .body import FEET, HAIR, LEGS, SKIN, TORSO, PosedBody

SUBPIXEL = 4  # cv2 polygon fills with 4 fractional bits: edges placed to 1/16 pixel


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: image size, horizontal field of view, position, look-at point, roll."""

    width: int
    height: int
    fov: float  # horizontal, degrees
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    roll: float = 0.0  # degrees

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Right, down and forward unit vectors of the image in world coordinates."""
        f = np.subtract(self.target, self.position).astype(float)
        f /= np.linalg.norm(f)
        r = np.cross(f, [0.0, 0.0, 1.0])
        r /= np.linalg.norm(r)
        d = np.cross(f, r)  # image down
        a = np.radians(self.roll)
        r, d = r * np.cos(a) + d * np.sin(a), d * np.cos(a) - r * np.sin(a)
        return r, d, f

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) pixel coordinates and (N,) depths along the view direction."""
        r, d, f = self.axes()
        rel = np.asarray(points, float) - self.position
        x, y, z = rel @ r, rel @ d, rel @ f
        focal = self.width / 2 / np.tan(np.radians(self.fov) / 2)
        z_safe = np.maximum(z, 1e-3)
        uv = np.stack([focal * x / z_safe + self.width / 2, focal * y / z_safe + self.height / 2], axis=1)
        return uv, z


@dataclass(frozen=True)
class Look:
    """Colours (BGR) and room: what the dancer wears and where she dances."""

    skin: tuple[int, int, int]
    leotard: tuple[int, int, int]
    tights: tuple[int, int, int]
    shoes: tuple[int, int, int]
    hair: tuple[int, int, int]
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    floor_kind: str = "wood"  # wood, marley
    barre: bool = True
    mirror: bool = False
    wall_distance: float = 3.0  # metres behind the dancer
    light: tuple[float, float, float] = (0.4, -0.6, 0.7)  # direction towards the key light
    ambient: float = 0.35
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour temperature, BGR gains
    extras: dict = field(default_factory=dict)


def render(body: PosedBody, cam: Camera, look: Look, rng: np.random.Generator) -> np.ndarray:
    """The rendered BGR image of the dancer in the room."""
    img = _room(cam, look, rng)
    _shadow(img, body, cam)
    _draw_body(img, body, cam, look)
    img = img.astype(np.float32) * np.array(look.tint, np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_body(img: np.ndarray, body: PosedBody, cam: Camera, look: Look) -> None:
    uv, depth = cam.project(body.vertices)
    tri = body.vertices[body.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    centres = tri.mean(axis=1)
    facing = np.einsum("ij,ij->i", normals, np.asarray(cam.position) - centres) > 0
    keep = np.flatnonzero(facing & (depth[body.faces].min(axis=1) > 0.05))
    order = keep[np.argsort(-depth[body.faces[keep]].mean(axis=1))]
    light = np.asarray(look.light, float) / np.linalg.norm(look.light)
    shade = look.ambient + (1 - look.ambient) * np.clip(normals[order] @ light, 0, 1)
    palette = np.zeros((5, 3))
    palette[SKIN], palette[TORSO], palette[LEGS] = look.skin, look.leotard, look.tights
    palette[FEET], palette[HAIR] = look.shoes, look.hair
    colours = palette[body.parts[body.faces[order]].max(axis=1)] * shade[:, None]
    pts = np.round(uv[body.faces[order]] * (1 << SUBPIXEL)).astype(np.int32)
    for poly, colour in zip(pts, colours.tolist()):
        cv2.fillConvexPoly(img, poly, colour, cv2.LINE_8, SUBPIXEL)


def _floor_point(cam: Camera, forward: float, side: float) -> np.ndarray:
    """A point on the floor, ``forward`` metres from the camera along its horizontal view."""
    f = np.subtract(cam.target, cam.position)
    f[2] = 0
    f /= np.linalg.norm(f)
    s = np.array([f[1], -f[0], 0.0])
    p = np.array(cam.position, float) + f * forward + s * side
    p[2] = 0.0
    return p


def _room(cam: Camera, look: Look, rng: np.random.Generator) -> np.ndarray:
    h, w = cam.height, cam.width
    img = np.empty((h, w, 3), np.float32)
    img[:] = look.wall
    img *= np.linspace(1.08, 0.9, h, dtype=np.float32)[:, None, None]
    img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    dist = np.linalg.norm(np.subtract(cam.target, cam.position)[:2]) + look.wall_distance
    width = 12.0
    floor = np.array([_floor_point(cam, dist, -width), _floor_point(cam, dist, width),
                      _floor_point(cam, 0.3, width), _floor_point(cam, 0.3, -width)])
    uv, _ = cam.project(floor)
    poly = np.clip(uv, -4 * w, 5 * w).astype(np.int32)
    cv2.fillConvexPoly(img, poly, look.floor, cv2.LINE_AA)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, poly, 1)
    if look.floor_kind == "wood":
        for k, side in enumerate(np.arange(-width, width, 0.18)):
            a, b = _floor_point(cam, 0.3, side), _floor_point(cam, dist, side)
            (p, q), _ = cam.project(np.array([a, b]))
            ok, p, q = cv2.clipLine((0, 0, w, h), _int(p), _int(q))
            if ok:
                shade = 0.85 + 0.3 * ((k * 7919) % 13) / 13
                cv2.line(img, p, q, [c * shade * 0.8 for c in look.floor], 1, cv2.LINE_AA)
    img[mask > 0] += rng.normal(0, 4, (int(mask.sum()), 1)).astype(np.float32)
    wall_at = lambda side, z: _floor_point(cam, dist, side) + np.array([0, 0, z])  # noqa: E731
    if look.mirror:
        corners = np.array([wall_at(-2.5, 0.3), wall_at(2.5, 0.3), wall_at(2.5, 2.2), wall_at(-2.5, 2.2)])
        uv, _ = cam.project(corners)
        glass = [0.55 * c + 0.45 * g for c, g in zip(look.wall, (150, 140, 125))]
        cv2.fillConvexPoly(img, np.clip(uv, -4 * w, 5 * w).astype(np.int32), glass, cv2.LINE_AA)
        cv2.polylines(img, [np.clip(uv, -4 * w, 5 * w).astype(np.int32)], True, (60, 60, 60), 2, cv2.LINE_AA)
    if look.barre:
        height = look.extras.get("barre_height", 1.0)
        (p, q), _ = cam.project(np.array([wall_at(-6, height), wall_at(6, height)]))
        thick = max(2, int(w / 160))
        cv2.line(img, tuple(p.astype(int)), tuple(q.astype(int)), (60, 90, 130), thick, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _int(p) -> tuple[int, int]:
    return int(np.clip(round(p[0]), -1e6, 1e6)), int(np.clip(round(p[1]), -1e6, 1e6))


def _shadow(img: np.ndarray, body: PosedBody, cam: Camera) -> None:
    """A soft contact shadow on the floor under the feet."""
    feet = np.array([body.joints["left_ankle"], body.joints["right_ankle"]])
    centre = feet.mean(axis=0)
    if centre[2] > 0.5:  # in the air: no contact shadow
        return
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.stack([centre[0] + 0.35 * np.cos(angles), centre[1] + 0.25 * np.sin(angles), np.zeros_like(angles)], 1)
    uv, depth = cam.project(ring)
    if (depth <= 0).any():
        return
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, uv.astype(np.int32), 255, cv2.LINE_AA)
    k = max(3, (img.shape[1] // 40) | 1)
    mask = cv2.GaussianBlur(mask, (k, k), 0).astype(np.float32) / 255 * 0.45
    img[:] = (img * (1 - mask[:, :, None])).astype(np.uint8)
