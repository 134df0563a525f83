"""Built-in datasets: digits, IDX readers (generated files in every layout, and the real
Fashion-MNIST from Debian's package), text, npz/csv, synthetic, and the get_dataset registry."""
import os

import numpy as np
import pytest

from clnet.data import DataLoader, DatasetNotFoundError, get_dataset
from clnet.data.datasets import idx as idx_mod, split_indices
from clnet.data.datasets.idx import read_idx, write_idx

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def _isolated_search_path(tmp_path, monkeypatch):
    # the search path must not see the developer's own cache or $CLNET_DATA
    monkeypatch.delenv("CLNET_DATA", raising=False)
    monkeypatch.delenv("CLNET_DATA_MIRRORS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------- digits
def test_digits_matches_scikit_learn_and_splits_deterministically():
    from sklearn.datasets import load_digits
    ref = load_digits()
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    everything = get_dataset("digits", "all")
    assert (len(train), len(test), len(everything)) == (1438, 359, 1797)
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert train.data.min() == 0 and train.data.max() == 1
    np.testing.assert_array_equal(everything.data.reshape(1797, 64) * 16, ref.data)
    np.testing.assert_array_equal(everything.targets, ref.target)
    # train and test are disjoint and cover everything
    tr, te = split_indices(1797, "train", 0.2, 0), split_indices(1797, "test", 0.2, 0)
    assert not set(tr) & set(te) and sorted(np.concatenate([tr, te])) == list(range(1797))
    np.testing.assert_array_equal(train.data, everything.data[tr])
    np.testing.assert_array_equal(test.targets, ref.target[te])
    again = get_dataset("digits", "train")
    np.testing.assert_array_equal(again.data, train.data)
    other = get_dataset("digits", "train", seed=1)
    assert not np.array_equal(other.targets, train.targets)
    xb, yb = next(iter(DataLoader(train, batch_size=32)))
    assert tuple(xb.shape) == (32, 1, 8, 8) and tuple(yb.shape) == (32,)


# ---------------------------------------------------------------- IDX files
def _fake_mnist(n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}


def _write(folder, arrays, gz):
    os.makedirs(folder, exist_ok=True)
    for stem, a in arrays.items():
        write_idx(os.path.join(folder, stem + (".gz" if gz else "")), a)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
def test_idx_round_trip_every_type(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, a)
        b = read_idx(tmp_path / name)
        assert b.shape == (2, 3, 4) and b.dtype.kind == np.dtype(dtype).kind
        np.testing.assert_array_equal(b, a)


def test_idx_header_checked(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "ok", np.zeros((3, 2), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "ok").read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("layout,gz", [("flat", True), ("flat", False), ("named", True),
                                       ("torchvision", False), ("torchvision", True)])
def test_mnist_reader_layouts(tmp_path, layout, gz):
    arrays = _fake_mnist()
    root = tmp_path / "data"
    folder = {"flat": root, "named": root / "mnist", "torchvision": root / "MNIST" / "raw"}[layout]
    _write(folder, arrays, gz)
    train = get_dataset("mnist", "train", root=str(root))
    test = get_dataset("mnist", "test", root=str(root))
    assert len(train) == 12 and len(test) == 5
    x, y = train[3]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[0], arrays["train-images-idx3-ubyte"][3] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(test.targets, arrays["t10k-labels-idx1-ubyte"])
    xb, yb = train.get_batch([0, 5])
    np.testing.assert_allclose(xb[:, 0], arrays["train-images-idx3-ubyte"][[0, 5]] / 255.0,
                               rtol=1e-6)


def test_search_order_root_then_env_then_cache(tmp_path, monkeypatch):
    env_dir, home = tmp_path / "env", tmp_path / "home"
    _write(home / ".cache" / "clnet" / "datasets" / "kmnist", _fake_mnist(n_train=7), gz=True)
    assert len(get_dataset("kmnist", "train")) == 7
    _write(env_dir / "KMNIST" / "raw", _fake_mnist(n_train=8), gz=False)
    monkeypatch.setenv("CLNET_DATA", str(env_dir))
    assert len(get_dataset("kmnist", "train")) == 8
    _write(tmp_path / "root" / "kmnist", _fake_mnist(n_train=9), gz=True)
    assert len(get_dataset("kmnist", "train", root=str(tmp_path / "root"))) == 9


def test_missing_files_error_lists_folders_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("CLNET_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(idx_mod, "SYSTEM_DATA_DIR", str(tmp_path / "system"))
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("fashion-mnist", "train", root=str(tmp_path / "r"))
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "train-images-idx3-ubyte(.gz)" in msg and "train-labels-idx1-ubyte(.gz)" in msg
    for folder in [tmp_path / "r", tmp_path / "r" / "FashionMNIST" / "raw",
                   tmp_path / "env" / "fashion-mnist",
                   tmp_path / "home" / ".cache" / "clnet" / "datasets" / "fashion-mnist",
                   tmp_path / "system" / "fashion-mnist"]:
        assert f"  {folder}\n" in msg, folder
    assert "download=True" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "root" in msg


def test_emnist_split_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "EMNIST" / "raw"
    _write(folder, {"emnist-letters-train-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28),
                                                                          dtype=np.uint8),
                    "emnist-letters-train-labels-idx1-ubyte": np.array([1, 26, 3, 4], np.uint8)},
           gz=False)
    ds = get_dataset("emnist", "train", root=str(tmp_path), emnist_split="letters")
    assert ds.num_classes == 26 and ds.targets.tolist() == [0, 25, 2, 3]
    with pytest.raises(ValueError, match="emnist_split"):
        get_dataset("emnist", "train", root=str(tmp_path), emnist_split="nope")


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason="Debian's dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_system_folder():
    train, test = get_dataset("fashion-mnist", "train"), get_dataset("fashion-mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.files[0].startswith(FASHION_DIR)
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert train.data.shape == (60000, 1, 28, 28) and train.data.dtype == np.uint8
    x, y = train[0]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and x.max() > 0.5
    assert 0.25 < train.data.mean() / 255 < 0.32     # the published mean is 0.2860


# ---------------------------------------------------------------- text
def test_text_default_corpus_vocab_and_shift():
    from pydoc_data import topics
    train = get_dataset("text", "train", seq_len=32)
    val = get_dataset("text", "val", seq_len=32)
    corpus = "\n".join(topics.topics[k] for k in sorted(topics.topics))
    assert train.vocab == sorted(set(corpus)) and val.vocab == train.vocab
    x, y = train[5]
    assert x.dtype == np.int64 and x.shape == (32,) and y.shape == (32,)
    np.testing.assert_array_equal(x[1:], y[:-1])
    assert train.decode(x) == corpus[5 * 32:6 * 32]
    assert train.decode(y) == corpus[5 * 32 + 1:6 * 32 + 1]
    n_train = len(corpus) - round(len(corpus) * 0.1)
    assert len(train) == (n_train - 33) // 32 + 1
    assert val.decode(val[0][0]) == corpus[n_train:n_train + 32]
    np.testing.assert_array_equal(train.encode("def"), [train.stoi[c] for c in "def"])
    xb, yb = next(iter(DataLoader(train, batch_size=4, shuffle=True, generator=0)))
    assert tuple(xb.shape) == (4, 32) and str(yb.dtype) == "clnet.int64"


def test_text_from_file_with_stride(tmp_path):
    (tmp_path / "t.txt").write_text("abcabcabcabc\n", encoding="utf-8")
    ds = get_dataset("text", "all", path=str(tmp_path / "t.txt"), seq_len=4, stride=2)
    assert ds.vocab == ["\n", "a", "b", "c"]
    assert [ds.decode(ds[i][0]) for i in range(len(ds))] == ["abca", "cabc", "bcab", "abca",
                                                             "cabc"]
    with pytest.raises(ValueError, match="fewer than"):
        get_dataset("text", "val", text="abcdef", seq_len=4)
    with pytest.raises(KeyError, match="'z'"):
        ds.encode("z")


# ---------------------------------------------------------------- npz / csv / synthetic
def test_npz_named_arrays_and_split_keys(tmp_path):
    x = np.arange(40, dtype=np.int32).reshape(20, 2)
    y = np.arange(20) % 3
    np.savez(tmp_path / "a.npz", feats=x, lab=y)
    train = get_dataset("npz", "train", path=str(tmp_path / "a.npz"), features="feats",
                        labels="lab")
    test = get_dataset("npz", "test", root=str(tmp_path / "a.npz"), features="feats",
                       labels="lab")
    assert (len(train), len(test)) == (16, 4) and train.data.dtype == np.float32
    rows = np.concatenate([train.data, test.data])
    np.testing.assert_array_equal(np.sort(rows[:, 0]), x[:, 0])
    xi, yi = test[0]
    assert yi == y[int(xi[0]) // 2]
    np.savez(tmp_path / "b.npz", x_train=x[:3], y_train=y[:3], x_test=x[3:5], y_test=y[3:5])
    assert len(get_dataset("npz", "test", path=str(tmp_path / "b.npz"))) == 2
    with pytest.raises(KeyError, match=r"no array named 'x'.*\['feats', 'lab'\]"):
        get_dataset("npz", "train", path=str(tmp_path / "a.npz"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        get_dataset("npz", "train", path=str(tmp_path / "missing.npz"))


def test_csv_columns_and_string_labels(tmp_path):
    lines = ["a,b,species,c"] + [f"{i},{i * 0.5},{'cat' if i % 2 else 'dog'},{-i}"
                                 for i in range(10)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    ds = get_dataset("csv", "all", path=str(tmp_path / "d.csv"), label="species",
                     features=["a", "c"])
    assert ds.classes == ["cat", "dog"] and ds.data.shape == (10, 2)
    np.testing.assert_array_equal(ds.data[3], [3, -3])
    assert ds.targets.dtype == np.int64 and ds.targets[:3].tolist() == [1, 0, 1]
    train = get_dataset("csv", "train", path=str(tmp_path / "d.csv"), label="species")
    assert train.data.shape == (8, 3) and train.columns == ["a", "b", "c"]
    (tmp_path / "n.csv").write_text("x,label\n1,0\n2,1\n3,2\n")
    assert get_dataset("csv", "all", path=str(tmp_path / "n.csv")).targets.dtype == np.int64
    with pytest.raises(KeyError, match="no column 'label'"):
        get_dataset("csv", "train", path=str(tmp_path / "d.csv"))


def test_synthetic_is_seeded():
    a = get_dataset("synthetic", "train", num_samples=64, num_classes=4, seed=3)
    b = get_dataset("synthetic", "train", num_samples=64, num_classes=4, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.shape == (64, 8) and set(a.targets.tolist()) <= {0, 1, 2, 3}
    r = get_dataset("synthetic", "test", task="regression", num_test=50, noise=0.0)
    np.testing.assert_allclose(r.targets, r.data @ r.weight + r.bias, rtol=1e-4, atol=1e-5)


def test_registry_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; known datasets: csv, "
                                         "digits, emnist, fashion-mnist, kmnist, mnist, npz, "
                                         "synthetic, text"):
        get_dataset("imagenet", "train")
    with pytest.raises(TypeError, match=r"dataset 'digits' got unknown argument\(s\) \['bogus'\]"):
        get_dataset("digits", "train", bogus=1)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        get_dataset("digits", "dev")
    _write(tmp_path / "FashionMNIST" / "raw", _fake_mnist(n_test=3), gz=True)
    assert len(get_dataset("Fashion_MNIST", "test", root=str(tmp_path))) == 3   # an alias
