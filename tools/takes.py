"""How many recorded takes a new move needs before the model recognises it on takes it has not seen.

    python -m tools.takes SYNTHETIC_DATA [--ks 1,2,3,5,10,20] [--repeats 2]

Real data stands in for an instructor's recordings (``pi-coach record``) of moves the box does not
know: the exercise-form landmark CSVs (``../shared/data/exercise-form/train``, MIT): plank, lunge
and bicep curl. A take is 2 s (60 frames) of one file. Plank takes are drawn from three files and
tested on a fourth, never trained on; lunge and curl have one file each, so their training takes
come from its first half and test takes from its second. The curl is the hard one: a dancer
standing with the arms moving, close to the synthetic ``none`` (standing about). For each number of takes k, the default temporal CNN is trained
with the synthetic data (so it must still tell the ballet moves and ``none`` apart), ``--repeats``
times with different draws. Reported: the new moves' take recall (a take is recognised when most
of its windows are), window recall, and false alarms (held-out synthetic windows called a new move).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from pi_coach.classify import pose_features
from pi_coach.landmark_files import read_landmarks
from pi_coach.pose import Pose

from . import movedata
from .train import fit, float_predict

FORM = Path(__file__).resolve().parents[2] / "shared" / "data" / "exercise-form" / "train"
TAKE = 60  # frames: 2 s at 30 fps
WINDOW = 8


def takes_of(path: Path, part: slice = slice(None)) -> list[np.ndarray]:
    """Feature windows of each 2-s take of a landmark CSV (frames taken as 16:9, as recorded)."""
    frames = read_landmarks(path).frames[part]
    feats = np.stack([pose_features(Pose(f, 1920, 1080)) for f in frames])
    out = []
    for start in range(0, len(feats) - TAKE + 1, TAKE):
        take = feats[start: start + TAKE]
        out.append(np.stack([take[s: s + WINDOW] for s in range(0, TAKE - WINDOW + 1, 4)]))
    return out


def new_moves(form: Path) -> dict[str, tuple[list, list]]:
    """move -> (training takes, test takes)."""
    planks = sorted(form.glob("plank__*.csv"))
    test_file = form / "plank__dataset2_f89b04e.csv"
    out = {"plank": ([t for f in planks if f != test_file for t in takes_of(f)], takes_of(test_file))}
    for move, name in (("lunge", "lunge__err.train2_5253981.csv"), ("curl", "bicep__dataset_da8c358.csv")):
        n = len(read_landmarks(form / name).frames)
        out[move] = (takes_of(form / name, slice(0, n // 2)), takes_of(form / name, slice(n // 2 + TAKE, None)))
    return out


def main(argv=None) -> int:
    from tqdm import tqdm

    from .models import temporal_cnn

    p = argparse.ArgumentParser(prog="python -m tools.takes", description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, nargs="+", help="synthetic dataset directories")
    p.add_argument("--ks", default="1,2,3,5,10,20")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--synthetic", type=int, default=4000, help="synthetic training windows to keep (for speed)")
    p.add_argument("--form", type=Path, default=FORM)
    args = p.parse_args(argv)
    moves = new_moves(args.form)
    labels = movedata.CLASSES + tuple(moves)
    synth = movedata.load_windows(args.data, WINDOW, movedata.CLASSES)
    train, test = movedata.split(synth, 0)
    rng = np.random.default_rng(0)
    tr = synth.take(train)
    keep = rng.choice(len(tr.x), min(args.synthetic, len(tr.x)), replace=False)
    sx, sy, te = tr.x[keep], tr.y[keep], synth.take(test)
    print("new moves: " + ", ".join(f"{m} ({len(a)} training takes available, {len(b)} test takes)"
                                     for m, (a, b) in moves.items()))
    print(f"synthetic: {len(sx)} training windows, {len(te.x)} held-out test windows")
    rows = []
    ks = [int(k) for k in args.ks.split(",")]
    with tqdm(total=len(ks) * args.repeats, desc="takes", unit="model") as bar:
        for k in ks:
            for r in range(args.repeats):
                draw = np.random.default_rng(100 * k + r)
                xs, ys = [sx], [sy]
                for m, (pool, _) in moves.items():
                    for i in draw.choice(len(pool), min(k, len(pool)), replace=False):
                        xs.append(pool[i])
                        ys.append(np.full(len(pool[i]), labels.index(m)))
                x, y = np.concatenate(xs), np.concatenate(ys)
                val = draw.uniform(size=len(x)) < 0.1
                model = temporal_cnn(WINDOW, x.shape[2], len(labels))
                fit(model, x[~val], y[~val], x[val], y[val], args.epochs, 100 * k + r, movedata.augment)
                row = {"k": k}
                for m, (_, tests) in moves.items():
                    preds = [float_predict(model, t) for t in tests]
                    row[f"{m}_take"] = float(np.mean([np.mean(pr == labels.index(m)) > 0.5 for pr in preds]))
                    row[f"{m}_window"] = float(np.mean(np.concatenate(preds) == labels.index(m)))
                pred = float_predict(model, te.x)
                row["false_alarm"] = float(np.mean(pred >= len(movedata.CLASSES)))
                row["ballet_acc"] = float(np.mean(pred == te.y))
                rows.append(row)
                bar.update()
    print("\nmedian of repeats; per new move: share of its unseen test takes recognised (and of their windows)")
    print(f"{'takes':>5s} | " + " | ".join(f"{m:>13s}" for m in moves) + " | synthetic called new | synthetic accuracy")
    for k in ks:
        rs = [r for r in rows if r["k"] == k]
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0] if key != "k"}
        cells = " | ".join(f"{med[m + '_take']:5.2f} ({med[m + '_window']:.2f})" for m in moves)
        print(f"{k:5d} | {cells} | {med['false_alarm']:20.3f} | {med['ballet_acc']:18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
