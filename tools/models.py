"""The move-classifier architectures compared side by side (Keras), and a k-NN baseline.

Landmark models take a window of pose features ``(T, 99)``; the image CNN takes the frame
letterboxed to a small square. ``batch_size=1`` builds the fixed-shape twin that exports to TFLite
(recurrent layers only lower to TFLite ops with static shapes). Sizes are kept small enough for a Pi's CPU and a <500 KB int8 file.
"""

from __future__ import annotations

import numpy as np

L2 = 1e-4


def _keras():
    import keras  # tensorflow-cpu 2.18 (the train extra); imported only by who trains

    return keras


def _conv_stem(keras, x):
    """Two 1-D convolutions over time, 96 channels: shared by the temporal CNN and its SE variant."""
    reg = keras.regularizers.l2(L2)
    x = keras.layers.Conv1D(96, 3, padding="same", activation="relu", kernel_regularizer=reg)(x)
    return keras.layers.Conv1D(96, 3, padding="same", activation="relu", kernel_regularizer=reg)(x)


def temporal_cnn(window: int, features: int, classes: int, batch_size: int | None = None):
    """1-D convolutions over time: the runtime default."""
    keras = _keras()
    reg = keras.regularizers.l2(L2)
    x = inp = keras.Input((window, features), batch_size=batch_size)
    x = keras.layers.GlobalAveragePooling1D()(_conv_stem(keras, x))
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(64, activation="relu", kernel_regularizer=reg)(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="temporal_cnn")


def lstm(window: int, features: int, classes: int, batch_size: int | None = None):
    """The published sequence model: three LSTM layers, two dense layers, softmax."""
    keras = _keras()
    x = inp = keras.Input((window, features), batch_size=batch_size)
    x = keras.layers.LSTM(64, return_sequences=True)(x)
    x = keras.layers.LSTM(64, return_sequences=True)(x)
    x = keras.layers.LSTM(32)(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(32, activation="relu", kernel_regularizer=keras.regularizers.l2(L2))(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="lstm")


def cnn_rnn(window: int, features: int, classes: int, batch_size: int | None = None):
    """A convolution front end feeding a recurrent layer (the published hybrid's shape)."""
    keras = _keras()
    x = inp = keras.Input((window, features), batch_size=batch_size)
    x = keras.layers.Conv1D(64, 3, padding="same", activation="relu", kernel_regularizer=keras.regularizers.l2(L2))(x)
    x = keras.layers.GRU(64)(x)
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="cnn_rnn")


def se_cnn(window: int, features: int, classes: int, batch_size: int | None = None):
    """The temporal CNN with a squeeze-and-excitation (channel attention) block."""
    keras = _keras()
    x = inp = keras.Input((window, features), batch_size=batch_size)
    x = _conv_stem(keras, x)
    squeeze = keras.layers.GlobalAveragePooling1D()(x)
    excite = keras.layers.Dense(24, activation="relu")(squeeze)
    excite = keras.layers.Dense(96, activation="sigmoid")(excite)
    x = keras.layers.Multiply()([x, keras.layers.Reshape((1, 96))(excite)])
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="se_cnn")


def image_cnn(size: int, classes: int):
    """The published image CNN: 2 conv, max-pool, 2 conv, max-pool, dropout 0.25, softmax;
    small first filters with stride 2. 96x96 instead of 180x180 (a Pi 4 runs it in a few ms);
    batch normalisation added, without which it did not start to learn here."""
    keras = _keras()
    reg = keras.regularizers.l2(L2)

    def conv(x, filters, strides=1):
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_regularizer=reg)(x)
        return keras.layers.ReLU()(keras.layers.BatchNormalization()(x))

    x = inp = keras.Input((size, size, 3))
    x = conv(conv(x, 16, strides=2), 32)
    x = keras.layers.MaxPooling2D()(x)
    x = conv(conv(x, 32), 64)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    x = keras.layers.Dropout(0.25)(x)
    x = keras.layers.Dense(64, activation="relu", kernel_regularizer=reg)(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="image_cnn")


LANDMARK_ARCHS = {"temporal_cnn": temporal_cnn, "lstm": lstm, "cnn_rnn": cnn_rnn, "se_cnn": se_cnn}


def base_arch(name: str) -> str:
    """The architecture a model's name stands for: ``temporal_cnn_x3`` (three averaged) and
    ``temporal_cnn.0`` (the first of them) are both temporal CNNs."""
    return name.split(".")[0].split("_x")[0]


def averaged(members: list, name: str):
    """One model averaging the class scores of ``members`` (same architecture, trained from
    different seeds): a small ensemble in one file, steadier on held-out dancers than any member.
    Members are named ``ARCH.K`` so ``batch_one`` can rebuild them."""
    keras = _keras()
    for k, m in enumerate(members):
        m.name = f"{base_arch(m.name)}.{k}"
    inp = keras.Input(members[0].input_shape[1:], batch_size=members[0].input_shape[0])
    return keras.Model(inp, keras.layers.Average()([m(inp) for m in members]), name=name)


def batch_one(model):
    """The fixed-shape twin (batch 1) of a trained landmark model or averaged ensemble, for export."""
    keras = _keras()
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if members:
        return averaged([batch_one(m) for m in members], model.name)
    twin = LANDMARK_ARCHS[base_arch(model.name)](model.input_shape[1], model.input_shape[2], model.output_shape[-1],
                                                    batch_size=1)
    twin.set_weights(model.get_weights())
    return twin


class KNN:
    """k-nearest neighbours over one frame's normalised pose (MediaPipe's own pose classifier's
    approach): cosine distance, majority of the k nearest."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, x: np.ndarray, y: np.ndarray, classes: int) -> KNN:
        self.x = self._embed(x)
        self.y = y
        self.classes = classes
        return self

    @staticmethod
    def _embed(x: np.ndarray) -> np.ndarray:
        e = x[:, -1, :]  # the newest frame of each window
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)

    def predict_proba(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        out = []
        for i in range(0, len(x), batch):
            sims = self._embed(x[i: i + batch]) @ self.x.T
            nearest = np.argpartition(-sims, self.k, axis=1)[:, : self.k]
            votes = np.zeros((len(nearest), self.classes))
            for j in range(self.k):
                votes[np.arange(len(nearest)), self.y[nearest[:, j]]] += 1
            out.append(votes / self.k)
        return np.concatenate(out)
