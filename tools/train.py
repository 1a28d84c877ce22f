"""Train the move classifiers side by side on the same split, export them to int8 TFLite, compare
them, and ship the best landmark model (and the image CNN) to models/ with a model card.

    python -m tools.train DATA [DATA...] [--out build/train] [--ship models] [--archs ...]

The split holds out whole dancers (subjects) and whole camera views: nothing of a test subject
or a test view is trained on. Reports (comparison table, confusion matrices, training curves,
robustness of the image path) go to ``--out``; ``--ship`` also writes models/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from pi_coach.classify import MoveClassifier, letterbox, mirror_features, person_crop

from . import movedata
from .evaluate import confusion_png, format_report, latency_ms, metrics
from .export import RECURRENT, to_int8, write_model
from .models import base_arch
from .synth.moves import PORT_DE_BRAS

IMAGE_SIZE = 96
DEFAULT = "temporal_cnn"  # the runtime default unless another landmark model wins clearly
CLEAR_WIN = 0.01  # macro F1 a challenger must gain to replace the default


def _batches(x, y, batch, rng, augment):
    import keras

    class Augmented(keras.utils.PyDataset):
        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            idx = order[i * batch: (i + 1) * batch]
            return augment(x[idx], y[idx], rng), y[idx]

        def on_epoch_end(self):
            rng.shuffle(order)

    order = rng.permutation(len(x))
    return Augmented()


def fit(model, x, y, xv, yv, epochs: int, seed: int, augment):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True)
    history = model.fit(_batches(x, y, 128, np.random.default_rng(seed), augment), validation_data=(xv, yv),
                        epochs=epochs, callbacks=[stop], verbose=0)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def int8_predict(path: Path, x: np.ndarray, image: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class indices and scores of a shipped-format model through the LiteRT interpreter."""
    clf = MoveClassifier(path, threads=2)
    guesses = [clf.classify_input(v.astype(np.float32)) if image else clf.classify_window(v) for v in x]
    scores = np.array([[g.scores[lab] for lab in clf.labels] for g in guesses])
    return scores.argmax(1), scores


def curves_png(histories: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, h in histories.items():
        axes[0].plot(h["loss"], label=f"{name} train")
        axes[0].plot(h["val_loss"], "--", label=f"{name} val")
        axes[1].plot(h["val_accuracy"], label=name)
    axes[0].set(title="loss", xlabel="epoch")
    axes[1].set(title="validation accuracy (held-out subjects)", xlabel="epoch")
    axes[0].legend(fontsize=6)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def still_frame(dirs: list[Path], name: str):
    """A still's image and MediaPipe pose (None where nobody was found), as the box would have them."""
    import cv2

    from pi_coach.pose import Pose

    d, sample = name.split("/", 1)
    folder = next(p for p in dirs if p.name == d)
    image = cv2.imread(str(folder / "images" / f"{sample}.jpg"))
    landmarks = np.load(folder / "landmarks" / f"{sample}.npy")
    pose = Pose(landmarks, image.shape[1], image.shape[0]) if np.isfinite(landmarks[:, 0]).any() else None
    return image, pose


def load_images(dirs: list[Path], data: movedata.Windows, mask: np.ndarray) -> np.ndarray:
    """The image CNN's inputs: the dancer's box letterboxed to IMAGE_SIZE, RGB uint8."""
    return np.stack([letterbox(person_crop(*still_frame(dirs, name)), (IMAGE_SIZE, IMAGE_SIZE))
                     for name in data.sample[mask]])


def image_augment(x, y, rng):
    x = x.copy()
    flip = rng.uniform(size=len(x)) < 0.5
    x[flip] = x[flip, :, ::-1]
    gain = rng.uniform(0.6, 1.3, (len(x), 1, 1, 1))
    return np.clip(x.astype(np.float32) / 255 * gain, 0, 1)


def main(argv=None) -> int:
    import keras

    from .models import KNN, LANDMARK_ARCHS

    p = argparse.ArgumentParser(prog="python -m tools.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("data", type=Path, nargs="+", help="dataset directories (labels.csv, landmarks/, images/)")
    p.add_argument("--out", type=Path, default=Path("build/train"))
    p.add_argument("--ship", type=Path, help="write the chosen models and MODEL_CARD.md here (e.g. models)")
    p.add_argument("--archs", default="temporal_cnn,lstm,cnn_rnn,se_cnn,knn,image_cnn")
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--folds", type=int, default=3, help="subject folds for cross-validating the default model")
    p.add_argument("--members", type=int, default=3,
                   help="also train this many temporal CNNs from different seeds, averaged in one model (1: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--landmarks", choices=("mediapipe", "truth"), default="mediapipe",
                   help="truth: learn and test on the synthetic studio's true joints, to measure what a perfect "
                        "2-D pose estimator would allow (a diagnostic: such models are never shipped)")
    args = p.parse_args(argv)
    if args.landmarks == "truth" and args.ship:
        p.error("--landmarks truth trains on joints the box never sees: not with --ship")
    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    archs = args.archs.split(",")
    command = "python -m tools.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    data = movedata.load_windows(args.data, args.window, landmarks=args.landmarks)
    labels = data.labels
    train, test = movedata.split(data, args.seed)
    # Samples whose fault made the body another move are neither learnt nor in the headline score.
    test_all, train, test = test, train & ~data.same_look, test & ~data.same_look
    inner_train, val = movedata.split(data.take(train), args.seed + 1, test_subjects=0.15, test_views=())
    tr, va, te = data.take(train).take(inner_train), data.take(train).take(val), data.take(test)
    print(f"{len(data.x)} windows ({(data.kind == 'still').sum()} from stills), {len(labels)} classes; "
          f"train {len(tr.x)}, validation {len(va.x)} (other subjects), test {len(te.x)} "
          f"(subjects {', '.join(sorted(set(te.subject) - set(tr.subject)))}; views front-right, back-left); "
          f"{data.same_look.sum()} windows of faults that make another move left out")
    rng = np.random.default_rng(args.seed)
    rep = tr.x[rng.choice(len(tr.x), min(300, len(tr.x)), replace=False)]
    results, histories = {}, {}
    for name in archs:
        start = time.time()
        if name == "knn":
            knn = KNN(5).fit(tr.x, tr.y, len(labels))
            pred = (knn.predict_proba(te.x) + knn.predict_proba(mirror_features(te.x))).argmax(1)
            results[name] = {"float": metrics(te.y, pred, labels), "size_kb": tr.x[:, -1].nbytes / 1024,
                             "train_s": time.time() - start, "note": "stores every training pose"}
            print(f"{name}: macro F1 {results[name]['float']['macro_f1']:.3f}")
            continue
        if name == "image_cnn":
            results[name], histories[name] = train_image(args, data, train, test, labels)
            print(f"{name}: macro F1 {results[name]['int8']['macro_f1']:.3f}")
            continue
        results[name], histories[name] = train_landmark(args, name, 1, tr, va, te, rep, labels)
    if args.members > 1 and DEFAULT in archs:
        name = f"{DEFAULT}_x{args.members}"
        results[name], _ = train_landmark(args, DEFAULT, args.members, tr, va, te, rep, labels)
        archs.insert(archs.index(DEFAULT) + 1, name)

    # The shipped default must be full-integer int8: recurrent models keep float activations.
    full_int8 = [n for n in archs if base_arch(n) in LANDMARK_ARCHS and base_arch(n) not in RECURRENT]
    default = f"{DEFAULT}_x{args.members}" if args.members > 1 else DEFAULT
    best = max(full_int8, key=lambda n: results[n]["int8"]["macro_f1"])
    if default in full_int8 and results[best]["int8"]["macro_f1"] < results[default]["int8"]["macro_f1"] + CLEAR_WIN:
        best = default
    every = data.take(test_all)  # the default also scored with the same-look faults as their intended move
    pred = int8_predict(args.out / f"{best}.tflite", every.x)[0]
    results[best]["with_same_look"] = metrics(every.y, pred, labels)
    results[best]["by_arms"] = by_arms(pred[~every.same_look], every.take(~every.same_look))  # the test windows
    cv = cross_validate(args, data.take(train), base_arch(best), labels) if args.folds > 1 else []
    # The robustness table runs the landmark model on MediaPipe's poses of corrupted frames: not for
    # a model trained on the true joints.
    robust = "image_cnn" in archs and args.landmarks == "mediapipe"
    robustness = robust_table(args, data, test, best, labels) if robust else []
    curves_png(histories, args.out / "training_curves.png")
    for n, r in results.items():
        confusion_png(r.get("int8", r["float"]), labels, args.out / f"confusion_{n}.png", f"{n} on held-out subjects and views")
    report = write_report(args, results, best, cv, robustness, labels, te, command)
    print(report)
    if args.ship:
        ship(args, best, results, report)
    return 0


def train_landmark(args, name: str, members: int, tr, va, te, rep, labels) -> tuple[dict, dict]:
    """Train ``members`` models of a landmark architecture from different seeds (more than one
    are averaged in one model), export to int8, and score float and int8 on the test windows."""
    import keras

    from .models import LANDMARK_ARCHS, averaged, batch_one

    start = time.time()
    models, histories = [], []
    for k in range(members):
        keras.utils.set_random_seed(args.seed + k)
        models.append(LANDMARK_ARCHS[name](args.window, tr.x.shape[2], len(labels)))
        histories.append(fit(models[-1], tr.x, tr.y, va.x, va.y, args.epochs, args.seed + k, movedata.augment))
    label = name if members == 1 else f"{name}_x{members}"
    model = models[0] if members == 1 else averaged(models, label)
    model.save(args.out / f"{label}.keras")
    (args.out / f"{label}.meta.json").write_text(json.dumps({"labels": labels, "trained_on": [str(d) for d in args.data]}))
    float_pred = float_predict(model, te.x)
    path, _ = write_model(args.out / label, to_int8(batch_one(model), rep), {"kind": "landmarks", "window": args.window,
                                                                             "labels": list(labels), "arch": label})
    int8_pred, _ = int8_predict(path, te.x)
    result = {"float": metrics(te.y, float_pred, labels), "int8": metrics(te.y, int8_pred, labels),
              "agreement": float((float_pred == int8_pred).mean()), "size_kb": path.stat().st_size / 1024,
              "latency_ms": latency_ms(path), "train_s": time.time() - start,
              "params": model.count_params(), "epochs": sum(len(h["loss"]) for h in histories)}
    print(f"{label}: macro F1 float {result['float']['macro_f1']:.3f}, int8 {result['int8']['macro_f1']:.3f}, "
          f"{result['size_kb']:.0f} KB, {result['latency_ms']:.3f} ms")
    return result, histories[0]


def train_image(args, data, train, test, labels):
    from .models import image_cnn

    still = data.kind == "still"
    tr_mask = train & still
    te_mask = test & still
    x = load_images(args.data, data, tr_mask)
    y = data.y[tr_mask]
    sub = data.take(tr_mask)
    inner, v = movedata.split(sub, args.seed + 1, test_subjects=0.15, test_views=())
    xt, yt = load_images(args.data, data, te_mask), data.y[te_mask]
    model = image_cnn(IMAGE_SIZE, len(labels))
    history = fit(model, x[inner], y[inner], x[v].astype(np.float32) / 255, y[v], args.epochs, args.seed, image_augment)
    model.save(args.out / "image_cnn.keras")
    rng = np.random.default_rng(args.seed)
    rep = x[rng.choice(len(x), min(300, len(x)), replace=False)].astype(np.float32) / 255
    path, _ = write_model(args.out / "image_cnn", to_int8(model, rep), {"kind": "image", "image_size": [IMAGE_SIZE, IMAGE_SIZE],
                                                                      "labels": list(labels), "arch": "image_cnn"})
    float_pred = model.predict(xt.astype(np.float32) / 255, verbose=0).argmax(1)
    int8_pred, _ = int8_predict(path, xt.astype(np.float32) / 255, image=True)
    return {"float": metrics(yt, float_pred, labels), "int8": metrics(yt, int8_pred, labels),
            "agreement": float((float_pred == int8_pred).mean()), "size_kb": path.stat().st_size / 1024,
            "latency_ms": latency_ms(path), "params": model.count_params(), "epochs": len(history["loss"])}, history


def float_predict(model, x: np.ndarray) -> np.ndarray:
    """Class indices from a Keras model averaged with its mirror look, as the runtime classifies."""
    return (model.predict(x, verbose=0) + model.predict(mirror_features(x), verbose=0)).argmax(1)


def cross_validate(args, data: movedata.Windows, arch: str, labels) -> list[float]:
    """Macro F1 of ``arch`` (float) over subject folds of the training part."""
    from .models import LANDMARK_ARCHS

    scores = []
    for k, fold in enumerate(movedata.subject_folds(data, args.folds, args.seed)):
        tr, te = data.take(~fold), data.take(fold)
        model = LANDMARK_ARCHS[arch](args.window, tr.x.shape[2], len(labels))
        fit(model, tr.x, tr.y, te.x, te.y, args.epochs, args.seed + k, movedata.augment)
        scores.append(metrics(te.y, float_predict(model, te.x), labels)["macro_f1"])
        print(f"fold {k + 1}/{args.folds}: macro F1 {scores[-1]:.3f}")
    return scores


def corrupt(image: np.ndarray, kind: str, rng) -> np.ndarray:
    """The published robustness conditions, applied to a BGR frame."""
    import cv2

    if kind.startswith("jpeg"):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(kind[4:])])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if kind.startswith("noise"):
        return np.clip(image + rng.normal(0, int(kind[5:]), image.shape), 0, 255).astype(np.uint8)
    if kind.startswith("blur"):
        k = 9 if kind == "blur_mild" else 25
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1 / k  # horizontal motion
        return cv2.filter2D(image, -1, kernel)
    if kind == "low_light":
        return (image * 0.3).astype(np.uint8)
    if kind == "backlight":
        h, w = image.shape[:2]
        glow = np.clip(1 - np.hypot(*np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))) / 1.2, 0, 1)
        dark = (image * 0.45).astype(np.float32)
        return np.clip(dark + 255 * glow[..., None] ** 2 * 0.9, 0, 255).astype(np.uint8)
    if kind == "360p":
        h, w = image.shape[:2]
        s = 360 / h
        return cv2.resize(cv2.resize(image, (round(w * s), 360), interpolation=cv2.INTER_AREA), (w, h))
    return image


CONDITIONS = ("clean", "jpeg25", "jpeg15", "noise10", "noise30", "blur_mild", "blur_severe", "low_light", "backlight", "360p")


def robust_table(args, data, test, best, labels, n: int = 240) -> list[dict]:
    """Macro F1 of the image CNN and of the landmark path (MediaPipe + the chosen model) on the
    same corrupted test stills; plus 20% dropped frames on the landmark path's test windows."""
    from pi_coach.pose_estimator import PoseEstimator

    rng = np.random.default_rng(args.seed)
    idx = np.flatnonzero(test & (data.kind == "still"))
    idx = rng.choice(idx, min(n, len(idx)), replace=False)
    frames = [still_frame(args.data, name)[0] for name in data.sample[idx]]
    y = data.y[idx]
    image_clf = MoveClassifier(args.out / "image_cnn.tflite")
    pose_clf = MoveClassifier(args.out / f"{best}.tflite")
    rows = []
    with PoseEstimator() as est:
        for cond in CONDITIONS:
            imgs = [corrupt(f, cond, rng) for f in frames]
            poses = [est.estimate(im) for im in imgs]  # both paths see the corrupted frame's own pose
            img_pred = [labels.index(image_clf.classify_image(im, p).move) for im, p in zip(imgs, poses)]
            lm_pred = [labels.index(pose_clf.classify_still(p).move) for p in poses]
            rows.append({"condition": cond, "image_cnn": metrics(y, np.array(img_pred), labels)["macro_f1"],
                         "landmarks": metrics(y, np.array(lm_pred), labels)["macro_f1"]})
            print(f"robustness {cond}: image {rows[-1]['image_cnn']:.3f}, landmarks {rows[-1]['landmarks']:.3f}")
    te = data.take(test)
    dropped = movedata.augment(te.x, None, np.random.default_rng(1))  # includes 20% dropped frames
    pred, _ = int8_predict(args.out / f"{best}.tflite", dropped)
    rows.append({"condition": "20% dropped frames (+ mirror, jitter)", "image_cnn": None,
                 "landmarks": metrics(te.y, pred, labels)["macro_f1"]})
    return rows


def by_arms(pred: np.ndarray, te: movedata.Windows) -> dict:
    """Accuracy on the test stills of ballet moves danced with their classical port de bras and
    with another (a passé with hands on hips): a model that reads the arms fails the second."""
    known = np.array([a != "" and te.labels[y] in PORT_DE_BRAS for a, y in zip(te.arms, te.y)])
    classical = np.array([a == PORT_DE_BRAS.get(te.labels[y], ("",))[0] for a, y in zip(te.arms, te.y)])
    groups = {"classical arms": known & classical, "other arms": known & ~classical}
    return {g: (int(m.sum()), float((pred[m] == te.y[m]).mean())) for g, m in groups.items() if m.any()}


def write_report(args, results, best, cv, robustness, labels, te, command) -> str:
    lines = ["# Move classifiers: comparison", "",
             f"Command: `{command}`", "",
             f"Test: {len(te.x)} windows of held-out subjects and camera views (never trained on). "
             "Figures are int8 TFLite through the LiteRT interpreter unless marked float." +
             (" Landmarks: the synthetic studio's true joints projected into the image, not MediaPipe's "
              "(`--landmarks truth`: what a perfect 2-D pose estimator would allow)." if args.landmarks == "truth" else ""), "",
             "| model | accuracy | macro precision | macro recall | macro F1 | float macro F1 | int8 = float | size KB | ms / inference |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        m = r.get("int8", r["float"])
        lines.append(f"| {name}{' (default)' if name == best else ''} | {m['accuracy']:.3f} | {m['macro_precision']:.3f} | "
                     f"{m['macro_recall']:.3f} | {m['macro_f1']:.3f} | {r['float']['macro_f1']:.3f} | "
                     f"{r.get('agreement', float('nan')):.3f} | {r['size_kb']:.0f} | {r.get('latency_ms', float('nan')):.3f} |")
    lines += ["", "Published figures to beat: image CNN 83% validation accuracy; CNN+RNN hybrid 0.87 accuracy; "
              "attention model 97.14% at 157 MB.", ""]
    every = results[best]["with_same_look"]
    lines += [f"Left out of training and of the figures above: windows of faults that make the body another move by "
              f"definition ({', '.join(f'{m} {f} = {to}' for (m, f), to in movedata.SAME_LOOK.items())}). Counting "
              f"them as the move intended ({int(every['support'].sum())} test windows in all), {best} scores macro F1 "
              f"{every['macro_f1']:.3f}, accuracy {every['accuracy']:.3f}.", ""]
    if len(results[best]["by_arms"]) == 2:
        lines += ["By port de bras, test stills of ballet moves: " + "; ".join(
            f"{g}: accuracy {acc:.3f} ({n} stills)" for g, (n, acc) in results[best]["by_arms"].items()) + ".", ""]
    if cv:
        lines += [f"Cross-validation of one {base_arch(best)} over {len(cv)} subject folds of the training part: macro F1 "
                  f"{np.mean(cv):.3f} ± {np.std(cv):.3f} ({', '.join(f'{s:.3f}' for s in cv)}).", ""]
    lines += [f"## {best} per class (int8, test)", "", "```", format_report(results[best]["int8"], labels), "```", ""]
    if robustness:
        lines += ["## Robustness (macro F1 on the same corrupted test stills)", "",
                  "| condition | image CNN | MediaPipe + " + best + " |", "|---|---|---|"]
        for r in robustness:
            img = "n/a" if r["image_cnn"] is None else f"{r['image_cnn']:.3f}"
            lines.append(f"| {r['condition']} | {img} | {r['landmarks']:.3f} |")
        lines.append("")
    lines += ["Pictures: `confusion_<model>.png`, `training_curves.png`."]
    report = "\n".join(lines) + "\n"
    (args.out / "REPORT.md").write_text(report)
    return report


def ship(args, best, results, report) -> None:
    import shutil

    args.ship.mkdir(parents=True, exist_ok=True)
    for src, dst in ((best, "moves"), ("image_cnn", "moves_image")):
        if (args.out / f"{src}.tflite").is_file():
            shutil.copy(args.out / f"{src}.tflite", args.ship / f"{dst}.tflite")
            spec = json.loads((args.out / f"{src}.json").read_text())
            spec["model"] = f"{dst}.tflite"
            (args.ship / f"{dst}.json").write_text(json.dumps(spec, indent=2) + "\n")
    for png in (f"confusion_{best}.png", "training_curves.png"):
        shutil.copy(args.out / png, args.ship / png)
    (args.ship / "REPORT.md").write_text(report)
    print(f"shipped {best} as {args.ship / 'moves.tflite'} and the image CNN as {args.ship / 'moves_image.tflite'}")


if __name__ == "__main__":
    sys.exit(main())
