"""`clnet predict`: raw samples go through the dataset's conversion and the config's transforms
(predictions equal the trainer's evaluation path on the same samples), top-k probabilities
(numpy's softmax of the model's logits is the oracle), class names, CSV/JSON/.npy output, and
clear errors for a bad output extension, input shape or K."""
import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import clnet
from clnet.cli.errors import EXIT_USAGE
from clnet.cli.main import cli
from clnet.data import DataLoader
from clnet.data import transforms as T
from clnet.data.datasets.idx import FASHION_CLASSES, write_idx
from clnet.train import Trainer, load_config
from clnet.train.predict import eval_transform, predict_array

DIGITS = """\
seed: 3
run_dir: {run_dir}
data:
  dataset: digits
  batch_size: 64
  val_split: 0.2
  transforms:
    - Normalize: {{mean: 0.3, std: 0.2}}
model: {{arch: mlp, args: {{hidden: [24]}}}}
optimizer: {{name: adam, lr: 0.01}}
epochs: 1
"""

FASHION = """\
seed: 0
run_dir: {run_dir}
data:
  dataset: fashion-mnist
  root: {root}
  batch_size: 8
  val_split: 0.25
  transforms:
    - Normalize: {{mean: 0.2860, std: 0.3530}}
model: {{arch: mlp, args: {{hidden: [16]}}}}
epochs: 1
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def eval_path(trainer, ds):
    """Logits of the trainer's model on the dataset's items, batched as Trainer.evaluate does."""
    trainer.model.eval()
    out = []
    with clnet.no_grad():
        for x, _ in DataLoader(ds, batch_size=trainer.eval_batch_size, shuffle=False):
            out.append(trainer.model(x).numpy())
    trainer.model.train()
    return np.concatenate(out)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    path = tmp / "cfg.yaml"
    path.write_text(DIGITS.format(run_dir=tmp / "runs"))
    t = Trainer(load_config(str(path)), quiet=True)
    t.fit()
    return str(path), t.run_dir


@pytest.fixture
def fashion(tmp_path, monkeypatch):
    """A small Fashion-MNIST in IDX files (uint8 images, as the real one) and a checkpoint."""
    monkeypatch.delenv("CLNET_DATA", raising=False)
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    os.makedirs(root)
    for stem, n in (("train", 40), ("t10k", 12)):
        write_idx(root / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(root / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    path = tmp_path / "cfg.yaml"
    path.write_text(FASHION.format(run_dir=tmp_path / "runs", root=root))
    t = Trainer(load_config(str(path)), run_dir=str(tmp_path / "run"), quiet=True)
    ckpt = t.save_checkpoint("final")
    return str(path), ckpt


def test_transforms_applied_equal_the_evaluation_path(digits_run):
    path, run = digits_run
    t = Trainer(load_config(path), resume=run, quiet=True, evaluation=True)
    idx = list(t.val_set.indices[:40])
    base = t.val_set.dataset
    raw = base.data[idx]                          # float32 in [0, 1], before Normalize
    expected = softmax(eval_path(t, t.val_set)[:40])
    preds = predict_array(t, raw, top_k=10)
    assert preds.classes.shape == (40, 1, 10) and preds.positions == ()
    np.testing.assert_array_equal(preds.labels, expected.argmax(1))
    np.testing.assert_allclose(preds.probs[:, 0, 0], expected.max(1), rtol=1e-5, atol=1e-6)
    # the same samples fed to the model without the transform give other probabilities: the
    # comparison above can fail
    t.model.eval()
    with clnet.no_grad():
        untransformed = softmax(t.model(clnet.tensor(raw)).numpy())
    assert np.abs(untransformed - expected).max() > 0.05


def test_top_k_probabilities_are_softmax_sorted_and_sum_to_one(digits_run):
    path, run = digits_run
    t = Trainer(load_config(path), resume=run, quiet=True, evaluation=True)
    raw = t.val_set.dataset.data[t.val_set.indices[:16]]
    expected = softmax(eval_path(t, t.val_set)[:16])
    full = predict_array(t, raw, top_k=10)
    np.testing.assert_allclose(full.probs[:, 0].sum(1), 1.0, rtol=1e-5)
    assert (np.diff(full.probs[:, 0], axis=1) <= 0).all()          # most probable first
    np.testing.assert_allclose(np.take_along_axis(expected, full.classes[:, 0], 1),
                               full.probs[:, 0], rtol=1e-5, atol=1e-6)
    top3 = predict_array(t, raw, top_k=3, batch_size=5)            # batches do not matter
    np.testing.assert_array_equal(top3.classes, full.classes[:, :, :3])
    np.testing.assert_allclose(top3.probs, full.probs[:, :, :3], rtol=1e-6)
    assert top3.names == [str(d) for d in range(10)]


def test_cli_prints_names_and_writes_csv_json_npy(digits_run, tmp_path):
    path, run = digits_run
    t = Trainer(load_config(path), resume=run, quiet=True, evaluation=True)
    raw = t.val_set.dataset.data[t.val_set.indices[:6]].reshape(6, 64)   # flat rows reshape
    np.save(tmp_path / "x.npy", raw)
    ref = predict_array(t, raw, top_k=2)
    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--top-k", "2")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == 6
    for i, line in enumerate(lines):
        cells = line.split("\t")
        assert cells[0] == str(i)
        assert [c.split()[0] for c in cells[1:]] == [str(c) for c in ref.classes[i, 0]]
        np.testing.assert_allclose([float(c.split()[1]) for c in cells[1:]], ref.probs[i, 0],
                                   atol=1e-4)

    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--top-k", "3", "--output", tmp_path / "p.csv")
    assert res.exit_code == 0 and "wrote 6 predictions" in res.output, res.output
    ref = predict_array(t, raw, top_k=3)
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "class_1", "name_1", "probability_1", "class_2", "name_2",
                       "probability_2", "class_3", "name_3", "probability_3"]
    for i, row in enumerate(rows[1:]):
        assert int(row[0]) == i
        assert [int(c) for c in row[1::3]] == ref.classes[i, 0].tolist()
        assert row[2::3] == [str(c) for c in ref.classes[i, 0]]
        np.testing.assert_allclose([float(q) for q in row[3::3]], ref.probs[i, 0], rtol=1e-5)
    assert len(rows) == 7

    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--output", tmp_path / "p.json")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "p.json").read_text())
    assert [r["index"] for r in data] == list(range(6))
    assert [r["top"][0]["class"] for r in data] == ref.labels.tolist()
    assert all(len(r["top"]) == 1 and r["top"][0]["name"] == str(r["top"][0]["class"])
               for r in data)
    np.testing.assert_allclose([r["top"][0]["probability"] for r in data], ref.probs[:, 0, 0],
                               rtol=1e-6)

    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--output", tmp_path / "p.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), ref.labels)


def test_uint8_images_converted_and_fashion_names(fashion, tmp_path):
    path, ckpt = fashion
    t = Trainer(load_config(path), resume=ckpt, quiet=True, evaluation=True)
    base = t.val_set.dataset
    assert base.data.dtype == np.uint8
    idx = list(t.val_set.indices)
    expected = softmax(eval_path(t, t.val_set))
    preds = predict_array(t, base.data[idx], top_k=10)            # raw 0-255 pixels
    np.testing.assert_array_equal(preds.labels, expected.argmax(1))
    np.testing.assert_allclose(np.take_along_axis(expected, preds.classes[:, 0], 1),
                               preds.probs[:, 0], rtol=1e-5, atol=1e-6)
    # pixels already in [0, 1] (float32) skip the dataset's /255 but not the Normalize
    converted = predict_array(t, base.data[idx].astype(np.float32) / 255, top_k=10)
    np.testing.assert_allclose(converted.probs, preds.probs, rtol=1e-5, atol=1e-6)

    np.save(tmp_path / "x.npy", base.data[idx][:, 0])               # (N, 28, 28) also fits
    res = invoke("predict", path, "--checkpoint", ckpt, "--input", tmp_path / "x.npy",
                 "--output", tmp_path / "p.csv")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name_1"] for r in rows] == [FASHION_CLASSES[c] for c in preds.labels]
    res = invoke("predict", path, "--checkpoint", ckpt, "--input", tmp_path / "x.npy")
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0].split("\t")
    assert first[1].rsplit(" ", 1)[0] == FASHION_CLASSES[preds.labels[0]]


def test_errors_name_the_option_and_the_problem(digits_run, tmp_path):
    path, run = digits_run
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 7, 7), np.float32))
    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--output", tmp_path / "p.txt")
    assert res.exit_code == EXIT_USAGE
    assert "--output" in res.output and "p.txt" in res.output and ".csv" in res.output
    assert not (tmp_path / "p.txt").exists()
    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "bad.npy")
    assert res.exit_code == EXIT_USAGE
    assert "--input" in res.output and "(7, 7)" in res.output and "(1, 8, 8)" in res.output
    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--top-k", "11")
    assert res.exit_code == EXIT_USAGE and "--top-k 11" in res.output and "10 classes" in \
        res.output
    res = invoke("predict", path, "--checkpoint", run, "--input", tmp_path / "x.npy",
                 "--top-k", "0")
    assert res.exit_code == EXIT_USAGE


def test_eval_transform_makes_augmentations_deterministic():
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    tf = T.Compose([T.RandomCrop(6, padding=2), T.RandomHorizontalFlip(1.0),
                    T.Normalize(1.0, 2.0)])
    ev = eval_transform(tf)
    for _ in range(3):                     # the centre of the padded image is the image
        np.testing.assert_array_equal(ev(x), (x - 1.0) / 2.0)
    np.testing.assert_array_equal(eval_transform(T.RandomCrop(4))(x), x[:, 1:5, 1:5])
    assert eval_transform(T.RandomHorizontalFlip(1.0)) is None
    assert eval_transform(None) is None


GPT = """\
seed: 2
run_dir: {run_dir}
data: {{dataset: text, batch_size: 16, val_split: 0.0, args: {{seq_len: 6}}}}
model: {{arch: gpt, args: {{block_size: 6, n_layer: 1, n_head: 2, n_embd: 16}}}}
epochs: 1
"""


def test_language_model_rows_per_position_named_by_the_vocabulary(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(GPT.format(run_dir=tmp_path / "runs"))
    t = Trainer(load_config(str(path)), run_dir=str(tmp_path / "run"), quiet=True)
    ckpt = t.save_checkpoint("final")
    ds = t.train_set
    tokens = np.stack([ds.data[0], ds.data[1]])                 # (2, 6) int64 token ids
    np.save(tmp_path / "x.npy", tokens)
    preds = predict_array(t, tokens, top_k=2)
    assert preds.positions == (6,) and preds.classes.shape == (2, 6, 2)
    assert preds.names == ds.vocab and preds.labels.shape == (2, 6)
    t.model.eval()
    with clnet.no_grad():
        expected = softmax(t.model(clnet.tensor(tokens)).numpy())
    np.testing.assert_array_equal(preds.labels, expected.argmax(-1))
    res = invoke("predict", path, "--checkpoint", ckpt, "--input", tmp_path / "x.npy",
                 "--top-k", "2", "--output", tmp_path / "p.json")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "p.json").read_text())
    assert [(r["index"], r["position"]) for r in data] == [(i, p) for i in range(2)
                                                          for p in range(6)]
    assert [r["top"][0]["name"] for r in data] == [ds.vocab[c] for c in
                                                   preds.labels.reshape(-1)]
    res = invoke("predict", path, "--checkpoint", ckpt, "--input", tmp_path / "x.npy")
    assert res.exit_code == 0, res.output
    # one line per sample and position, even where a predicted character is '\n'
    lines = res.output.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [f"{i}:{p}" for i in range(2) for p in range(6)]


def test_printed_rows_escape_names_that_would_break_the_line():
    from clnet.train.predict import Predictions, format_rows
    preds = Predictions(np.array([[[0, 1]], [[1, 0]]]), np.array([[[0.75, 0.25]], [[0.5, 0.5]]]),
                        ["\n", "Ankle boot"], ())
    assert list(format_rows(preds)) == ["0\t\\n 0.7500\tAnkle boot 0.2500",
                                        "1\tAnkle boot 0.5000\t\\n 0.5000"]


REGRESSION = """\
run_dir: {run_dir}
data: {{dataset: synthetic, args: {{task: regression}}}}
model: {{arch: mlp, args: {{hidden: [8], out_features: 1}}}}
loss: mse
metrics: []
"""


def test_a_regression_model_is_refused_not_given_fake_probabilities(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(REGRESSION.format(run_dir=tmp_path / "runs"))
    t = Trainer(load_config(str(path)), run_dir=str(tmp_path / "run"), quiet=True)
    ckpt = t.save_checkpoint("final")
    x = np.asarray(t.train_set[0][0])[None]
    with pytest.raises(ValueError, match="no classes"):
        predict_array(t, x)                    # softmax over 1 output would say 1.0 always
    np.save(tmp_path / "x.npy", x)
    res = invoke("predict", path, "--checkpoint", ckpt, "--input", tmp_path / "x.npy")
    assert res.exit_code == EXIT_USAGE and "no classes" in res.output


def test_test_split_metrics_see_the_config_transforms_as_predict_does(digits_run):
    # clnet eval --split test (and the final test line of clnet train) built the test split
    # without data.transforms: a model trained behind Normalize scored 0.80 there against
    # 0.91 through predict on the same images
    path, run = digits_run
    t = Trainer(load_config(path), resume=run, evaluation=True, quiet=True)
    raw = np.stack([np.asarray(t.test_set.data[i]) for i in range(len(t.test_set))])
    labels = np.asarray([int(t.test_set[i][1]) for i in range(len(t.test_set))])
    x0 = np.asarray(t.test_set[0][0], np.float32)
    np.testing.assert_allclose(x0.ravel(), ((raw[0].astype(np.float32) - 0.3) / 0.2).ravel(),
                               rtol=1e-6, atol=1e-6)
    predicted = predict_array(t, raw).labels
    assert t.evaluate("test")["accuracy"] == pytest.approx(float((predicted == labels).mean()))
