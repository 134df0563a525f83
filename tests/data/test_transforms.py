"""Host-side transforms against numpy, and their reproducibility through the DataLoader."""
import numpy as np
import pytest

from clnet.data import DataLoader, Dataset
from clnet.data import transforms as T


def test_to_float_scales_integers_only():
    img = np.array([[0, 51, 255]], dtype=np.uint8)
    out = T.ToFloat()(img)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.2, 1.0]], rtol=1e-6)
    f = np.array([2.5], dtype=np.float64)
    assert T.ToFloat()(f).dtype == np.float32 and T.ToFloat()(f)[0] == 2.5
    assert T.ToFloat(scale=False)(img)[0, 2] == 255


def test_normalize_per_channel_and_scalar(rng):
    x = rng.random((3, 4, 5)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 2.0, 4.0]
    expected = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(x), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(x), (x - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="2 channel means"):
        T.Normalize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize(0, 0)


def test_flatten_and_one_hot():
    assert T.Flatten()(np.zeros((1, 3, 2))).shape == (6,)
    np.testing.assert_array_equal(T.OneHot(4)(np.int64(2)), [0, 0, 1, 0])
    assert T.OneHot(4)(np.int64(2)).dtype == np.float32
    np.testing.assert_array_equal(T.OneHot(3)(np.array([0, 2])), [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        T.OneHot(4)(np.int64(4))
    with pytest.raises(ValueError, match="positive"):
        T.OneHot(0)


def test_random_crop_is_a_window_of_the_padded_image(rng):
    img = rng.random((2, 5, 7)).astype(np.float32)
    padded = np.pad(img, [(0, 0), (2, 2), (2, 2)])
    crop = T.RandomCrop((5, 7), padding=2, generator=0)
    seen = set()
    for _ in range(40):
        out = crop(img)
        assert out.shape == (2, 5, 7)
        hits = [(i, j) for i in range(5) for j in range(5)
                if np.array_equal(padded[:, i:i + 5, j:j + 7], out)]
        assert hits, "crop is not a window of the padded image"
        seen.update(hits)
    assert len(seen) > 5                                # offsets vary
    assert T.RandomCrop(3)(img).shape == (2, 3, 3)
    np.testing.assert_array_equal(T.RandomCrop((5, 7))(img), img)   # no room: the image itself
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(9)(img)


def test_random_crop_padding_forms():
    img = np.ones((1, 2, 2), dtype=np.float32)
    out = T.RandomCrop((3, 6), padding=(0, 0, 4, 1), fill=-1, generator=0)(img)  # l,t,r,b
    np.testing.assert_array_equal(out, [[[1, 1, -1, -1, -1, -1], [1, 1, -1, -1, -1, -1],
                                         [-1, -1, -1, -1, -1, -1]]])


def test_random_horizontal_flip():
    img = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(img), img[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(img), img)
    flip = T.RandomHorizontalFlip(0.3, generator=1)
    flips = sum(not np.array_equal(flip(img), img) for _ in range(2000))
    assert 520 <= flips <= 680                          # 600 expected, ~4.5 sigma band
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        T.RandomHorizontalFlip(1.5)


def test_compose_and_lambda():
    tf = T.Compose([T.ToFloat(), T.Lambda(lambda a: a + 1), T.Flatten()])
    np.testing.assert_allclose(tf(np.full((1, 2, 2), 255, np.uint8)), [2, 2, 2, 2])
    assert "ToFloat" in repr(tf) and "Flatten" in repr(tf)
    with pytest.raises(TypeError, match="not callable"):
        T.Compose([1])


class _Images(Dataset):
    def __init__(self, tf):
        self.tf = tf
        self.images = np.arange(16 * 64, dtype=np.uint8).reshape(16, 1, 8, 8)

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return self.tf(self.images[i])


def test_random_transforms_are_seeded_by_the_loader():
    tf = T.Compose([T.ToFloat(), T.RandomCrop(8, padding=2), T.RandomHorizontalFlip()])

    def run(seed, prefetch=True):
        return [b.copy() for b in DataLoader(_Images(tf), batch_size=4, generator=seed,
                                              prefetch=prefetch, as_numpy=True)]
    a, b, c = run(5), run(5, prefetch=False), run(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
