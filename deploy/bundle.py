"""Build the offline bundle: everything a box needs to install or update pi-coach with no network.

``python -m deploy.bundle --wheelhouse .cache/wheelhouse/aarch64 --out out/bundle`` writes a folder::

    BUNDLE.json        version, platform (machine, Python), when and from which commit
    SHA256SUMS         the sha256 of every other file; install.sh checks them before anything else
    install.sh         the installer (pip --no-index into /opt/pi-coach, user, groups, units, I2C)
    requirements.txt   every wheel pinned, pi-coach[pi] first
    wheels/            the wheelhouse and the pi-coach wheel
    models/ rules/ systemd/ config/config.toml README.md

The wheelhouse must be complete for its platform (see deploy.wheelhouse): a bundle that would need
the network on the box is refused here, not discovered in the studio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from .wheelhouse import (REPO, WheelhouseError, missing_requirements, replaced, requirements, target_environment,
                         wheel_metadata)

CHECKSUMS = "SHA256SUMS"
# shipped files: (source in the checkout, place in the bundle)
PAYLOAD = [
    ("models/moves.tflite", "models/moves.tflite"),
    ("models/moves.json", "models/moves.json"),
    ("models/moves_image.tflite", "models/moves_image.tflite"),
    ("models/moves_image.json", "models/moves_image.json"),
    ("models/MODEL_CARD.md", "models/MODEL_CARD.md"),
    ("rules/README.md", "rules/README.md"),
    ("rules/ballet", "rules/ballet"),
    ("rules/examples", "rules/examples"),
    ("rules/profiles", "rules/profiles"),
    ("systemd/pi-coach.service", "systemd/pi-coach.service"),
    ("systemd/pi-coach.sysusers.conf", "systemd/pi-coach.sysusers.conf"),
    ("deploy/config.toml", "config/config.toml"),
    ("deploy/install.sh", "install.sh"),
    ("README.md", "README.md"),
]


class BundleError(RuntimeError):
    """The bundle cannot be built, or a built one does not check out."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundle_files(bundle: Path) -> list[str]:
    """Every file in the bundle but the checksum list, as sorted relative POSIX paths."""
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p != bundle / CHECKSUMS)


def write_checksums(bundle: Path) -> None:
    lines = [f"{sha256(bundle / rel)}  {rel}\n" for rel in bundle_files(bundle)]
    (bundle / CHECKSUMS).write_text("".join(lines))


def verify(bundle: Path) -> None:
    """Raise BundleError unless every file matches SHA256SUMS and nothing is missing or added."""
    listing = bundle / CHECKSUMS
    if not listing.is_file():
        raise BundleError(f"{bundle}: no {CHECKSUMS}: not a pi-coach bundle")
    expected = {}
    for line in listing.read_text().splitlines():
        digest, _, rel = line.partition("  ")
        expected[rel] = digest
    present = set(bundle_files(bundle))
    problems = [f"missing: {rel}" for rel in sorted(set(expected) - present)]
    problems += [f"not in {CHECKSUMS}: {rel}" for rel in sorted(present - set(expected))]
    problems += [f"changed: {rel}" for rel in sorted(present & set(expected)) if sha256(bundle / rel) != expected[rel]]
    if problems:
        raise BundleError(f"{bundle}: the bundle does not match its {CHECKSUMS}: " + "; ".join(problems[:10]))


def build_wheel(dest: Path) -> Path:
    """The pi-coach wheel, built from a copy of the sources (other builds in the checkout stay apart)."""
    with tempfile.TemporaryDirectory(prefix="pi-coach-src.") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, src / name)
        shutil.copytree(REPO / "pi_coach", src / "pi_coach", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                              "--wheel-dir", str(dest), str(src)], capture_output=True, text=True)
        if out.returncode != 0:
            raise BundleError(f"building the pi-coach wheel failed:\n{out.stderr[-2000:]}")
    return next(dest.glob("pi_coach-*.whl"))


def wheelhouse_target(wheelhouse: Path) -> str:
    stamp = wheelhouse / ".complete"
    if not stamp.is_file():
        raise BundleError(f"{wheelhouse} is not a complete wheelhouse: run `make wheelhouse` (or python -m deploy.wheelhouse)")
    return json.loads(stamp.read_text())["target"]


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def build(wheelhouse: Path, out: Path) -> dict:
    """Write the bundle folder ``out`` (replacing an older one) and return its BUNDLE.json."""
    target = wheelhouse_target(wheelhouse)
    env = target_environment(target)
    missing = missing_requirements(wheelhouse, requirements(), env)
    if missing:
        raise BundleError(f"{wheelhouse} lacks: " + "; ".join(missing))
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    with replaced(out) as tmp:
        wheels = tmp / "wheels"
        wheels.mkdir()
        for w in sorted(wheelhouse.glob("*.whl")):
            shutil.copy2(w, wheels / w.name)
        own = build_wheel(wheels)
        pins = [f"pi-coach[pi]=={version}"]
        for w in sorted(wheels.glob("*.whl")):
            name, ver, _ = wheel_metadata(w)
            if name != "pi-coach":
                pins.append(f"{name}=={ver}")
        (tmp / "requirements.txt").write_text("# every wheel in wheels/, pinned: pip install --no-index --find-links wheels -r requirements.txt\n"
                                              + "\n".join(pins) + "\n")
        for src, dst in PAYLOAD:
            s, d = REPO / src, tmp / dst
            d.parent.mkdir(parents=True, exist_ok=True)
            if s.is_dir():
                shutil.copytree(s, d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(s, d)
        os.chmod(tmp / "install.sh", 0o755)
        machine = env["platform_machine"]
        info = {"name": "pi-coach", "version": version, "machine": machine,
                "python": ".".join(env["python_version"].split(".")[:2]), "wheel": own.name,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": git_commit()}
        (tmp / "BUNDLE.json").write_text(json.dumps(info, indent=1) + "\n")
        write_checksums(tmp)
    return info


def size(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--wheelhouse", type=Path, default=REPO / ".cache" / "wheelhouse" / "aarch64",
                   help="a complete wheelhouse from deploy.wheelhouse (default: %(default)s)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "bundle", help="the bundle folder to write (default: %(default)s)")
    p.add_argument("--verify", type=Path, metavar="BUNDLE", help="only check an existing bundle against its SHA256SUMS")
    args = p.parse_args(argv)
    try:
        if args.verify:
            verify(args.verify)
            print(f"bundle: {args.verify}: every file matches {CHECKSUMS}")
            return 0
        info = build(args.wheelhouse, args.out)
    except (BundleError, WheelhouseError) as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: {args.out}: pi-coach {info['version']} for {info['machine']} Python {info['python']}, "
          f"{len(list((args.out / 'wheels').glob('*.whl')))} wheels, {size(args.out) / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
