"""Download every wheel pi-coach needs on the box, for the box's platform, into one folder.

``python -m deploy.wheelhouse --platform aarch64 --dest .cache/wheelhouse/aarch64`` fetches the
dependencies of pyproject.toml plus the ``pi`` extra as binary wheels for Raspberry Pi OS Bookworm
(aarch64, CPython 3.11, glibc 2.36); ``--platform host`` does the same for this machine (tests).

pip evaluates environment markers (``platform_machine == 'aarch64'``) against the machine it runs
on, not the target, so after downloading the folder is checked again with the target's markers:
every requirement of every wheel must be met by a wheel in the folder, or the download is refused.
A complete folder is reused until pyproject.toml's requirements change (the ``.complete`` stamp).
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]

# Raspberry Pi OS Bookworm: glibc 2.36, so any manylinux wheel up to 2_36 runs (pip does not
# widen a manylinux_2_36 tag to the older ones by itself: every tag is named).
AARCH64_PLATFORMS = [f"manylinux_2_{v}_aarch64" for v in range(36, 16, -1)] + ["manylinux2014_aarch64", "linux_aarch64"]
TARGETS = {
    "aarch64": {"python": "3.11", "machine": "aarch64"},
}


class WheelhouseError(RuntimeError):
    """The wheelhouse cannot be made or is incomplete; the message says which package and why."""


def requirements(pyproject: Path = REPO / "pyproject.toml", extras: tuple[str, ...] = ("pi",)) -> list[str]:
    """The runtime requirements: the project's dependencies and the given extras (the box needs ``pi``)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return reqs


def target_environment(target: str) -> dict[str, str]:
    """Marker values of the machine the wheels are for ("host": this one)."""
    env = default_environment()
    if target == "host":
        return env
    spec = TARGETS[target]
    env.update(platform_machine=spec["machine"], platform_system="Linux", sys_platform="linux", os_name="posix",
               python_version=spec["python"], python_full_version=spec["python"] + ".2",
               implementation_name="cpython", platform_python_implementation="CPython")
    return env


def host_target() -> str:
    return platform.machine()


def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """A wheel's (canonical name, version, Requires-Dist lines)."""
    name, version, _, _ = parse_wheel_filename(path.name)
    with zipfile.ZipFile(path) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode())
    return canonicalize_name(name), str(version), meta.get_all("Requires-Dist") or []


def missing_requirements(folder: Path, top: list[str], env: dict[str, str]) -> list[str]:
    """Requirements (from ``top`` and from every wheel in ``folder``, with ``env``'s markers) that no
    wheel in the folder meets: empty when the folder installs offline on the target."""
    wheels = {}
    for path in sorted(folder.glob("*.whl")):
        name, version, requires = wheel_metadata(path)
        wheels[name] = (version, requires)
    missing = []
    todo = [(Requirement(r), "pyproject.toml") for r in top]
    seen = set()
    while todo:
        req, wanted_by = todo.pop()
        key = (canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)))
        if req.marker is not None:
            if not req.marker.evaluate(dict(env, extra="")):
                continue
            req.marker = None  # met on the target: from here on, pip must not judge it by the host
        if key in seen:
            continue
        seen.add(key)
        have = wheels.get(canonicalize_name(req.name))
        if have is None or not req.specifier.contains(have[0], prereleases=True):
            missing.append(f"{req} (wanted by {wanted_by})")
            continue
        for line in have[1]:
            sub = Requirement(line)
            if sub.marker is not None:  # needed on the target, plain or through an extra asked for?
                if not any(sub.marker.evaluate(dict(env, extra=e)) for e in ("", *req.extras)):
                    continue
                sub.marker = None
            todo.append((sub, f"{req.name} {have[0]}"))
    return sorted(set(missing))


def pip_download(reqs: list[str], dest: Path, target: str) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(dest)]
    if target != "host":
        spec = TARGETS[target]
        for tag in AARCH64_PLATFORMS:
            cmd += ["--platform", tag]
        cmd += ["--python-version", spec["python"], "--implementation", "cp", "--abi", "cp" + spec["python"].replace(".", "")]
    out = subprocess.run(cmd + reqs, capture_output=True, text=True)
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "ERROR" in line] or out.stderr.splitlines()[-5:]
        raise WheelhouseError(f"pip download for {target} failed:\n  " + "\n  ".join(errors))


def build(dest: Path, target: str, reqs: list[str] | None = None) -> bool:
    """Make ``dest`` a complete wheelhouse for ``target``; False when the cached one was still good."""
    reqs = reqs or requirements()
    stamp = dest / ".complete"
    want = {"target": target, "requirements": reqs}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return False
    with replaced(dest) as tmp:
        pip_download(reqs, tmp, target)
        env = target_environment(target)
        for _ in range(3):  # requirements pip skipped with the host's markers, and theirs
            missing = missing_requirements(tmp, reqs, env)
            if not missing:
                break
            pip_download([m.split(" (wanted by")[0] for m in missing], tmp, target)
        missing = missing_requirements(tmp, reqs, env)
        if missing:
            raise WheelhouseError(f"no {target} wheels for: " + "; ".join(missing))
        (tmp / ".complete").write_text(json.dumps(want, indent=1))
    return True


@contextlib.contextmanager
def replaced(dest: Path):
    """A fresh folder beside ``dest`` to build in; it replaces ``dest`` only when the build
    finishes, so a failed or interrupted build leaves the old one whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.wheelhouse", description=__doc__.split("\n\n")[0])
    p.add_argument("--platform", default="aarch64", choices=["aarch64", "host"],
                   help="aarch64: Raspberry Pi OS Bookworm 64-bit; host: this machine (tests)")
    p.add_argument("--dest", type=Path, help="the folder (default: .cache/wheelhouse/<machine>)")
    args = p.parse_args(argv)
    target = args.platform
    dest = args.dest or REPO / ".cache" / "wheelhouse" / (host_target() if target == "host" else target)
    try:
        fresh = build(dest, target)
    except WheelhouseError as exc:
        print(f"wheelhouse: {exc}", file=sys.stderr)
        return 1
    wheels = sorted(dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    print(f"wheelhouse: {dest}: {len(wheels)} wheels, {size / 1e6:.0f} MB ({'downloaded' if fresh else 'cached'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
