"""Export a trained Keras move model as a full-integer int8 TFLite file with its spec.

    python -m tools.export build/train/temporal_cnn.keras --data DATASET... --to models/moves

writes ``models/moves.tflite`` and ``models/moves.json`` (labels, kind, window, features), the
pair the runtime (pi_coach.classify.MoveClassifier) loads with nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pi_coach.classify import FEATURES

from .models import base_arch, batch_one

RECURRENT = ("lstm", "cnn_rnn")  # TF 2.18's full-integer calibration crashes on their loops


def to_int8(model, representative: np.ndarray) -> bytes:
    """Full-integer quantization (int8 in and out) calibrated on ``representative`` inputs.

    Recurrent models get int8 weights with float activations instead (dynamic range): the
    converter's full-integer path segfaults on LSTM/GRU in TF 2.18, so they stay float at the edges.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if base_arch(model.name) in RECURRENT:
        return converter.convert()
    converter.representative_dataset = lambda: ([x[None].astype(np.float32)] for x in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def write_model(target: Path, tflite: bytes, spec: dict) -> tuple[Path, Path]:
    """Write NAME.tflite and NAME.json; the spec names the features the model was trained on."""
    target.parent.mkdir(parents=True, exist_ok=True)
    model_path, spec_path = target.with_suffix(".tflite"), target.with_suffix(".json")
    model_path.write_bytes(tflite)
    spec = dict(spec, model=model_path.name)
    if spec["kind"] == "landmarks":
        spec["features"] = FEATURES
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    return model_path, spec_path


def main(argv=None) -> int:
    import keras

    from .movedata import load_windows

    p = argparse.ArgumentParser(prog="python -m tools.export", description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="a .keras landmark model saved by tools.train")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="dataset(s) to calibrate the quantization on")
    p.add_argument("--to", type=Path, required=True, help="output path without suffix, e.g. models/moves")
    args = p.parse_args(argv)
    trained = keras.models.load_model(args.model)
    window = trained.input_shape[1]
    model = batch_one(trained)
    meta = json.loads(args.model.with_suffix(".meta.json").read_text())
    data = load_windows(args.data, window, tuple(meta["labels"]))
    rng = np.random.default_rng(0)
    rep = data.x[rng.choice(len(data.x), min(300, len(data.x)), replace=False)]
    paths = write_model(args.to, to_int8(model, rep), {"kind": "landmarks", "window": window, "labels": meta["labels"],
                                                       "arch": model.name, "trained_on": meta.get("trained_on", "")})
    print(f"wrote {paths[0]} ({paths[0].stat().st_size / 1024:.0f} KB) and {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
