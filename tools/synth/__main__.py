"""Synthetic dancer studio: render ballet moves (correct and with named faults) and write a dataset.

    python -m tools.synth OUT [--stills N] [--clips N] [--seed S] [--workers W] ...

OUT gets the dataset format of ARCHITECTURE.md: labels.csv (sample, move, fault, magnitude,
side, subject, camera, kind, frames, ...), landmarks/<sample>.npy (MediaPipe on the rendered
image: (33, 4) for a still, (T, 33, 4) for a clip), images/<sample>.jpg, truth/<sample>.json
(body, camera, 3-D joints, per-frame moves) and truth/<sample>.npy (true joints projected into
the image), DATASET.md and contact_sheet.png. The same seed gives the same dataset.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
import time
from pathlib import Path

from .studio import CLASSES, init_worker, run_job, sample_spec, write_labels

def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.synth", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("out", type=Path, help="dataset directory to write (created; must be empty or new)")
    p.add_argument("--stills", type=int, default=200, help="number of still images (default %(default)s)")
    p.add_argument("--clips", type=int, default=20, help="number of 1-3 s clips at 30 fps (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same dataset")
    p.add_argument("--subjects", type=int, default=40, help="number of different dancers (default %(default)s)")
    p.add_argument("--fault-rate", type=float, default=0.5, help="share of move samples with a fault (default %(default)s)")
    p.add_argument("--arm-variety", type=float, default=0.5,
                   help="share of moves danced with another than their classical port de bras, e.g. a passé with "
                        "hands on hips (default %(default)s; 0 gives every move its classical arms)")
    p.add_argument("--moves", help=f"comma-separated classes to render (default all: {','.join(CLASSES)})")
    p.add_argument("--workers", type=int, default=max(1, multiprocessing.cpu_count()), help="processes (default: cores)")
    p.add_argument("--clip-images", action="store_true", help="also save every clip frame as images/<clip>/<frame>.jpg")
    p.add_argument("--sequence", action="append", default=[], metavar="MOVE,MOVE,...",
                   help="clips dance exactly this sequence of moves, correctly, from and back to standing (any "
                        "length; a repeated move returns to standing in between); repeat the option for several: "
                        "clip i dances sequence i mod their number")
    p.add_argument("--image-size", metavar="WxH", help="render every sample at this size (default: drawn per sample)")
    return p.parse_args(argv)


def parse_sequence(text: str) -> tuple[str, ...]:
    """``a,b,b,c`` -> (a, b, none, b, c): the dancer stands up between two of the same move, so
    each is a move of its own."""
    out: list[str] = []
    for m in (m.strip() for m in text.split(",") if m.strip()):
        if out and out[-1] == m and m != "none":
            out.append("none")
        out.append(m)
    return tuple(out)


def main(argv=None) -> int:
    from tqdm import tqdm

    from .report import write_card

    args = parse_args(argv)
    classes = tuple(args.moves.split(",")) if args.moves else CLASSES
    unknown = set(classes) - set(CLASSES)
    if unknown:
        sys.exit(f"synth: unknown classes {sorted(unknown)}; known: {', '.join(CLASSES)}")
    sequences = [parse_sequence(t) for t in args.sequence]
    bad = {m for seq in sequences for m in seq} - set(CLASSES)
    if bad or any(not seq or seq[0] == "none" for seq in sequences):
        sys.exit(f"synth: --sequence needs known moves starting with a move, got {args.sequence}; known: {', '.join(CLASSES)}")
    size = None
    if args.image_size:
        try:
            size = tuple(int(v) for v in args.image_size.lower().split("x"))
            assert len(size) == 2 and min(size) >= 64
        except (ValueError, AssertionError):
            sys.exit(f"synth: --image-size must look like 640x480, got {args.image_size!r}")
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"synth: {args.out} is not empty; choose a new directory")
    for sub in ("images", "landmarks", "truth"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(sample_spec(args.seed, i, "still", args.subjects, args.fault_rate, classes, image_size=size,
                         arm_variety=args.arm_variety), args.seed, i)
            for i in range(args.stills)]
    jobs += [(sample_spec(args.seed, args.stills + i, "clip", args.subjects, args.fault_rate, classes,
                          sequences[i % len(sequences)] if sequences else (), size, args.arm_variety), args.seed,
              args.stills + i) for i in range(args.clips)]
    start = time.time()
    rows = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers, initializer=init_worker, initargs=(str(args.out), args.clip_images)) as pool:
        for row in tqdm(pool.imap_unordered(run_job, jobs, chunksize=4), total=len(jobs), desc="render", unit="sample"):
            rows.append(row)
    write_labels(args.out / "labels.csv", rows)
    command = "python -m tools.synth " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write_card(args.out, rows, args, command, time.time() - start)
    print(f"wrote {len(rows)} samples to {args.out} in {time.time() - start:.0f} s; see {args.out / 'DATASET.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
