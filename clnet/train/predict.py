"""Predictions of a trained model on inputs read from a file."""
import os

import numpy as np

import clnet


def predict_file(trainer, path, batch_size=256):
    """Class predictions (argmax of the logits) for the samples in a .npy/.npz file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"predict: input file {path} not found")
    if path.endswith(".npz"):
        with np.load(path) as z:
            keys = list(z.keys())
            x = z["x"] if "x" in keys else z[keys[0]]
    elif path.endswith(".npy"):
        x = np.load(path, allow_pickle=False)
    else:
        raise ValueError(f"predict: {path}: expected a .npy or .npz file")
    want = trainer.info.input_shape
    if x.shape[1:] != want:
        if x.ndim >= 1 and int(np.prod(x.shape[1:])) == int(np.prod(want)):
            x = x.reshape((x.shape[0],) + want)
        else:
            raise ValueError(f"predict: inputs of shape {x.shape[1:]} per sample, but the model "
                             f"takes {want}")
    x = x.astype(np.int64 if trainer.info.dtype == "int64" else np.float32)
    model = trainer.model
    model.eval()
    out = []
    with clnet.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(clnet.tensor(x[i:i + batch_size]))
            out.append(logits.argmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)
