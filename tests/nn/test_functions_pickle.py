"""Functions a model keeps on itself pickle by reference and come back as the same object.

nn.TransformerEncoderLayer keeps ``activation = F.relu``; torch.save(model) and the word
language model example pickle it by module and name. The 16-bit (opmath) and autocast wrappers
once made two objects of F.relu (one per re-exporting module), and pickle refused it ("it's
not the same object as clnet.ops.activations.relu")."""
import io
import pickle
import types

import pytest

import clnet
import clnet.nn.functional as F


def _public_functions(module):
    return sorted(name for name, f in vars(module).items()
                  if isinstance(f, types.FunctionType) and not name.startswith("_"))


@pytest.mark.parametrize("name", _public_functions(F))
def test_every_functional_pickles_to_itself(name):
    f = getattr(F, name)
    assert pickle.loads(pickle.dumps(f)) is f


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "add", "sub", "subtract",
                                  "mul", "div", "matmul", "softmax", "cat", "clamp", "clip",
                                  "neg", "negative", "abs", "absolute"])
def test_facade_functions_pickle_to_themselves(name):
    f = getattr(clnet, name)
    assert pickle.loads(pickle.dumps(f)) is f


def test_a_transformer_layer_saves_and_loads_whole():
    layer = clnet.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
                                             dropout=0.0)
    buf = io.BytesIO()
    clnet.save(layer, buf)
    buf.seek(0)
    back = clnet.load(buf, weights_only=False)
    assert back.activation is F.relu
    x = clnet.randn(3, 5, 8)
    layer.eval()
    back.eval()
    assert clnet.allclose(back(x), layer(x))
