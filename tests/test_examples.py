"""Every script in examples/ runs end to end on a tiny budget and does what it says.

Each example is imported from the examples folder and its ``main(argv)`` called with small
``--steps``/``--epochs``; the assertions are on what the run returns (losses that went down,
accuracies above chance, hook records, generated text), not on exact numbers.
"""
import math
import os
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture(scope="module", autouse=True)
def examples_on_path():
    sys.path.insert(0, EXAMPLES)
    yield
    sys.path.remove(EXAMPLES)


def test_custom_function_gradcheck_and_fit(capsys):
    import custom_function
    r = custom_function.main(["--steps", "60"])
    assert r["gradcheck_linear"] is True and r["gradcheck_relu"] is True
    assert r["final_loss"] < 0.5 * r["first_loss"]
    assert "gradcheck MyReLU (float64): passed" in capsys.readouterr().out


def test_custom_function_gradcheck_catches_a_wrong_backward():
    """The example's check has teeth: a ReLU whose backward forgets the mask fails it."""
    import clnet as torch
    import custom_function
    from clnet.autograd import GradcheckError, gradcheck

    class LeakyByMistake(custom_function.MyReLU):
        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.clone()

    z = torch.tensor([-1.5, -0.5, 0.5, 2.0], dtype=torch.double, requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(LeakyByMistake.apply, (z,), eps=1e-6, atol=1e-4)


def test_custom_module_repr_init_and_training():
    import custom_module
    r = custom_module.main(["--epochs", "2"])
    text = repr(r["model"])
    assert "(fc1): MyLinear(in_features=64, out_features=64, bias=True)" in text
    assert "(out): MyLinear(in_features=64, out_features=10, bias=True)" in text
    names = [n for n, _ in r["model"].named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "out.weight",
                     "out.bias"]
    # kaiming_normal_(fan_in, relu): std sqrt(2 / 64) over 4096 samples
    assert abs(r["init_std"] - math.sqrt(2 / 64)) < 0.1 * math.sqrt(2 / 64)
    assert r["final_loss"] < r["first_loss"]
    assert r["accuracy"] > 0.7          # chance is 0.1


def test_custom_module_without_bias_registers_none():
    import custom_module
    layer = custom_module.MyLinear(3, 2, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "MyLinear(in_features=3, out_features=2, bias=False)"


def test_manual_update_fits_sine():
    import manual_update
    r = manual_update.main(["--steps", "300"])
    assert r["final_loss"] < 0.01 * r["first_loss"]
    a, b, c, d = r["coefficients"]
    assert b > 0                  # sin(x) ~ x - x^3/6: the slope at 0 is positive


def fashion_mnist_available():
    from clnet.data import DatasetNotFoundError, get_dataset
    try:
        get_dataset("fashion-mnist", "test")
        return True
    except DatasetNotFoundError:
        return False


@pytest.mark.parametrize("data", ["auto", "digits"])
def test_mnist_convnet_hooks(data):
    import mnist_convnet_hooks
    steps = 30
    r = mnist_convnet_hooks.main(["--steps", str(steps), "--data", data, "--eval-samples", "500",
                                  "--log-every", "15"])
    if data == "digits" or not fashion_mnist_available():
        assert r["data"].startswith("digits")
    else:
        assert r["data"].startswith("Fashion-MNIST")
    assert r["hooked_layers"] == ["0:Conv2d", "3:Conv2d", "7:Linear", "9:Linear"]
    # one forward and one backward record per layer per step; the evaluation that followed
    # the handles' removal added none
    assert r["forward_calls"] == {n: steps for n in r["hooked_layers"]}
    assert r["backward_calls"] == {n: steps for n in r["hooked_layers"]}
    assert all(len(v) == steps for v in r["recorder"].activations.values())
    norms = [g.item() for g in r["recorder"].grad_norms["9:Linear"]]
    assert all(math.isfinite(g) and g > 0 for g in norms)
    assert r["final_loss"] < r["first_loss"]
    assert r["accuracy"] > 0.2          # chance is 0.1


def test_rnn_text_trains_and_samples():
    import rnn_text
    prompt, n_chars = "def ", 20
    r = rnn_text.main(["--steps", "8", "--seq-len", "16", "--batch-size", "16",
                       "--sample-chars", str(n_chars), "--eval-batches", "1", "--log-every", "4",
                       "--prompt", prompt])
    vocab = set(r["vocab"])
    for kind in ("rnn", "lstm"):
        out = r[kind]
        assert out["final_loss"] < out["first_loss"], kind
        assert out["val_loss"] < math.log(len(vocab)), kind    # better than uniform guessing
        assert out["sample"].startswith(prompt) and len(out["sample"]) == len(prompt) + n_chars
        assert set(out["sample"]) <= vocab
    assert type(r["rnn"]["model"].rnn).__name__ == "RNN"
    assert type(r["lstm"]["model"].rnn).__name__ == "LSTM"


@pytest.mark.parametrize("attention", ["sdpa", "mha"])
def test_tiny_gpt_trains_and_generates(attention):
    import tiny_gpt
    n_new = 24
    r = tiny_gpt.main(["--steps", "10", "--block-size", "16", "--n-layer", "1", "--n-embd", "32",
                       "--new-tokens", str(n_new), "--log-every", "5", "--top-k", "10",
                       "--attention", attention])
    assert r["final_loss"] < r["first_loss"]
    assert len(r["generated_ids"]) == n_new and len(r["generated"]) == n_new
    assert all(0 <= int(i) < len(r["vocab"]) for i in r["generated_ids"])
    assert set(r["generated"]) <= set(r["vocab"])
    model = r["model"]
    assert model.lm_head.weight is model.wte.weight      # tied, and listed once
    assert sum(1 for p in model.parameters() if p is model.wte.weight) == 1


@pytest.mark.parametrize("attention", ["sdpa", "mha"])
def test_tiny_gpt_attention_is_causal(attention):
    """Changing a later token leaves the logits of earlier positions unchanged."""
    import clnet as torch
    import tiny_gpt
    torch.manual_seed(0)
    model = tiny_gpt.TinyGPT(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16,
                             attention=attention).eval()
    a = torch.tensor([[1, 2, 3, 4, 5, 6]])
    b = torch.tensor([[1, 2, 3, 4, 9, 0]])
    with torch.no_grad():
        la, _ = model(a)
        lb, _ = model(b)
    early = (la[0, :4] - lb[0, :4]).abs().max().item()
    late = (la[0, 4:] - lb[0, 4:]).abs().max().item()
    assert early < 1e-5 and late > 1e-4
