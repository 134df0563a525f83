"""download=True against a local HTTP server on 127.0.0.1 (never the internet): mirrors in order,
checksum verification, atomic writes, the CLNET_DATA_MIRRORS variable and EMNIST's zip."""
import functools
import hashlib
import http.server
import os
import threading
import zipfile

import numpy as np
import pytest

from clnet.data import DownloadError, get_dataset
from clnet.data.download import download_file
from clnet.data.datasets.idx import write_idx

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("CLNET_DATA", raising=False)
    monkeypatch.delenv("CLNET_DATA_MIRRORS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # never reach a real mirror, even if a test forgot to pass one
    monkeypatch.setenv("no_proxy", "*")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www; yields (base URL, folder, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _serve_mnist(folder, n_train=6, n_test=4):
    rng = np.random.default_rng(1)
    sums, arrays = {}, {}
    for stem in STEMS:
        n = n_train if stem.startswith("train") else n_test
        a = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if "images" in stem
             else rng.integers(0, 10, n, dtype=np.uint8))
        path = os.path.join(folder, stem + ".gz")
        write_idx(path, a)
        with open(path, "rb") as f:
            sums[stem + ".gz"] = "md5:" + hashlib.md5(f.read()).hexdigest()
        arrays[stem] = a
    return sums, arrays


def test_download_verifies_checksums_and_loads(server, tmp_path):
    url, www, requests = server
    sums, arrays = _serve_mnist(www)
    root = tmp_path / "root"
    ds = get_dataset("mnist", "train", root=str(root), download=True, mirrors=[url],
                     checksums=sums)
    assert len(ds) == 6
    np.testing.assert_array_equal(ds.targets, arrays["train-labels-idx1-ubyte"])
    assert sorted(os.listdir(root / "mnist")) == ["train-images-idx3-ubyte.gz",
                                                  "train-labels-idx1-ubyte.gz"]
    assert sorted(requests) == ["/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz"]
    get_dataset("mnist", "train", root=str(root), download=True, mirrors=[url], checksums=sums)
    assert len(requests) == 2                         # files on disk are not fetched again


def test_checksum_mismatch_fails_and_leaves_nothing(server, tmp_path):
    url, www, _ = server
    _serve_mnist(www)
    root = tmp_path / "root"
    # the published MD5s of the real MNIST files cannot match the files this test made
    with pytest.raises(DownloadError) as info:
        get_dataset("mnist", "test", root=str(root), download=True, mirrors=[url])
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "checksum mismatch" in msg
    assert "9fb629c4189551a2d022fa330f9573f3" in msg
    assert os.listdir(root / "mnist") == []           # no partial or unverified file


def test_mirrors_tried_in_order_and_sha256(server, tmp_path):
    url, www, requests = server
    sums, _ = _serve_mnist(www)
    sha = {}
    for name in sums:
        with open(www / name, "rb") as f:
            sha[name] = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    root = tmp_path / "root"
    ds = get_dataset("kmnist", "test", root=str(root), download=True,
                     mirrors=[url + "/missing/", url], checksums=sha)
    assert len(ds) == 4
    assert requests[:2] == ["/missing/t10k-images-idx3-ubyte.gz", "/t10k-images-idx3-ubyte.gz"]


def test_mirrors_from_the_environment(server, tmp_path, monkeypatch):
    url, www, requests = server
    sums, _ = _serve_mnist(www)
    monkeypatch.setenv("CLNET_DATA_MIRRORS", f"{url}/nothing-here, {url}")
    monkeypatch.setenv("CLNET_DATA", str(tmp_path / "store"))
    ds = get_dataset("kmnist", "train", download=True, checksums=sums)
    assert len(ds) == 6
    assert ds.files[0] == str(tmp_path / "store" / "kmnist" /
                              "train-images-idx3-ubyte.gz")


def test_all_mirrors_failing_names_each(server, tmp_path):
    url, _, _ = server
    with pytest.raises(DownloadError) as info:
        get_dataset("mnist", "train", root=str(tmp_path), download=True,
                    mirrors=[url + "/a", url + "/b"])
    msg = str(info.value)
    assert f"{url}/a/train-images-idx3-ubyte.gz" in msg and f"{url}/b/" in msg
    assert "HTTP 404" in msg


def test_download_file_atomic_and_checksum_forms(server, tmp_path):
    url, www, _ = server
    (www / "f.bin").write_bytes(b"hello")
    md5 = hashlib.md5(b"hello").hexdigest()
    dest = tmp_path / "out" / "f.bin"
    download_file(f"{url}/f.bin", str(dest), md5)     # a bare hex digest means MD5
    assert dest.read_bytes() == b"hello"
    dest.write_bytes(b"old")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_file(f"{url}/f.bin", str(dest), "sha256:" + "0" * 64)
    assert dest.read_bytes() == b"old" and os.listdir(tmp_path / "out") == ["f.bin"]
    with pytest.raises(ValueError, match="expected 'md5"):
        download_file(f"{url}/f.bin", str(dest), "crc32:1234")


def test_emnist_comes_from_the_zip_archive(server, tmp_path):
    url, www, requests = server
    build = tmp_path / "build"
    build.mkdir()
    rng = np.random.default_rng(2)
    names = {"emnist-digits-test-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28),
                                                                      dtype=np.uint8),
             "emnist-digits-test-labels-idx1-ubyte.gz": np.array([4, 0, 9], np.uint8)}
    with zipfile.ZipFile(www / "gzip.zip", "w") as z:
        for name, a in names.items():
            write_idx(build / name, a)
            z.write(build / name, f"gzip/{name}")
    md5 = "md5:" + hashlib.md5((www / "gzip.zip").read_bytes()).hexdigest()
    ds = get_dataset("emnist", "test", root=str(tmp_path / "root"), emnist_split="digits",
                     download=True, mirrors=[url], checksums={"gzip.zip": md5})
    assert ds.targets.tolist() == [4, 0, 9] and requests == ["/gzip.zip"]
