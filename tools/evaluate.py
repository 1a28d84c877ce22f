"""Evaluate a shipped move model on any labelled data: accuracy, precision, recall, F1 per class
and macro, the confusion matrix (printed and as a PNG), and the interpreter's latency.

    python -m tools.evaluate models/moves.tflite DATA [--png OUT.png]

DATA is a dataset directory in the documented format (labels.csv, landmarks/) or a folder of
labelled photos ``DATA/<move>/*.jpg``, which are run through MediaPipe first, as on the box.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix."""
    n = len(labels)
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(n), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(n), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    present = cm.sum(1) > 0
    return {"accuracy": float(tp.sum() / max(1, cm.sum())), "precision": precision, "recall": recall, "f1": f1,
            "support": cm.sum(1), "macro_precision": float(precision[present].mean()),
            "macro_recall": float(recall[present].mean()), "macro_f1": float(f1[present].mean()), "confusion": cm}


def format_report(m: dict, labels: tuple[str, ...]) -> str:
    lines = [f"{'class':18s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'support':>8s}"]
    for i, lab in enumerate(labels):
        lines.append(f"{lab:18s} {m['precision'][i]:9.3f} {m['recall'][i]:7.3f} {m['f1'][i]:6.3f} {m['support'][i]:8d}")
    lines.append(f"{'macro':18s} {m['macro_precision']:9.3f} {m['macro_recall']:7.3f} {m['macro_f1']:6.3f} "
                 f"{int(m['support'].sum()):8d}")
    lines.append(f"accuracy {m['accuracy']:.3f}")
    lines.append("confusion (rows: truth, columns: predicted, in the class order above)")
    lines += ["  " + " ".join(f"{v:4d}" for v in row) for row in m["confusion"]]
    return "\n".join(lines)


def confusion_png(m: dict, labels: tuple[str, ...], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = m["confusion"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(f"{title}\naccuracy {m['accuracy']:.3f}, macro F1 {m['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_ms(model_path: Path, threads: int = 2, runs: int = 300) -> float:
    """Median milliseconds per invoke of the TFLite model with the LiteRT interpreter."""
    from pi_coach.classify import load_interpreter

    interp = load_interpreter(model_path, threads)
    inp = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    x = rng.uniform(-100, 100, inp["shape"]).astype(inp["dtype"])  # not zeros: no kernel short-cuts
    times = []
    for i in range(runs + 20):
        interp.set_tensor(inp["index"], x)
        t = time.perf_counter()
        interp.invoke()
        if i >= 20:
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def photo_windows(folder: Path, window: int, labels: tuple[str, ...]):
    """Pose-feature windows from a folder of labelled photos (``folder/<move>/*.jpg``)."""
    from pi_coach.classify import pose_features
    from pi_coach.pose_estimator import PoseEstimator
    from pi_coach.sources import IMAGE_SUFFIXES, read_image

    xs, ys, names = [], [], []
    with PoseEstimator() as est:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name in labels):
            for f in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                xs.append(np.repeat(pose_features(est.estimate(read_image(f)))[None], window, axis=0))
                ys.append(labels.index(sub.name))
                names.append(str(f))
    if not xs:
        raise SystemExit(f"evaluate: no photos in {folder}/<move>/ for moves {', '.join(labels)}")
    return np.stack(xs), np.array(ys), names


def main(argv=None) -> int:
    from pi_coach.classify import MoveClassifier

    from .movedata import load_windows

    p = argparse.ArgumentParser(prog="python -m tools.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="NAME.tflite (NAME.json beside it)")
    p.add_argument("data", type=Path, help="dataset directory (labels.csv) or photo folder DATA/<move>/*.jpg")
    p.add_argument("--png", type=Path, help="write the confusion matrix here")
    args = p.parse_args(argv)
    clf = MoveClassifier(args.model)
    labels = tuple(clf.labels)
    if (args.data / "labels.csv").is_file():
        data = load_windows([args.data], clf.window, labels)
        x, y = data.x, data.y
    else:
        x, y, _ = photo_windows(args.data, clf.window, labels)
    pred = np.array([labels.index(clf.classify_window(w).move) for w in x])
    m = metrics(y, pred, labels)
    print(f"{args.model} on {args.data}: {len(y)} samples")
    print(format_report(m, labels))
    print(f"latency: median {latency_ms(args.model):.3f} ms per window (LiteRT, 2 threads)")
    if args.png:
        confusion_png(m, labels, args.png, f"{args.model.name} on {args.data.name}")
        print(f"confusion matrix: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
