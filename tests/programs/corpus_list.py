"""The corpus: which programs there are, how each is run, which run by default, and what the
ones that fail today still need (shared by tests/programs/test_corpus.py and
benchmarks/torch_coverage.py).

Each program in ``corpus/`` asserts its own outcome at its end (loss falls by a stated factor,
accuracy above a threshold, values against a closed form): running it to the end under clnet is
the test. Running it under real torch as well shows that the threshold is one the original
program meets on the same data and sizes.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Program:
    name: str                    # file (or folder) under corpus/
    source: str                  # the public program it follows
    argv: tuple = ()
    variant: str = ""            # a second entry for the same file with other argv
    fast: bool = False           # in the default run (the rest are marked slow)
    needs: str = ""              # non-empty: fails today; the missing piece (strict xfail)
    raises: tuple = field(default=())  # the exception type names the missing piece raises
    torch_needs: str = ""        # non-empty: what real torch needs to run it here (its run skips)

    @property
    def id(self):
        return f"{self.name}[{self.variant}]" if self.variant else self.name


PE = "pytorch/examples"
PT = "pytorch/tutorials"
YJ = "yunjey/pytorch-tutorial"

PROGRAMS = [
    # ---- pytorch/examples
    Program("regression", f"{PE} regression/main.py", fast=True),
    Program("mnist", f"{PE} mnist/main.py"),
    Program("vae", f"{PE} vae/main.py", fast=True),
    Program("dcgan", f"{PE} dcgan/main.py"),
    Program("word_language_model", f"{PE} word_language_model/{{main,model,data}}.py"),
    # the example's README runs the Transformer with --lr 5 (at the default 20 it diverges, in
    # torch as in clnet)
    Program("word_language_model", f"{PE} word_language_model/main.py --model Transformer",
            argv=("--model", "Transformer", "--epochs", "3", "--lr", "5"), variant="Transformer"),
    Program("time_sequence_prediction", f"{PE} time_sequence_prediction/train.py"),
    Program("gcn", f"{PE} gcn/main.py"),
    Program("mnist_rnn", f"{PE} mnist_rnn/main.py"),
    Program("mnist_forward_forward", f"{PE} mnist_forward_forward/main.py"),
    Program("super_resolution", f"{PE} super_resolution/{{model,main}}.py",
            argv=("--threads", "0")),
    Program("fast_neural_style", f"{PE} fast_neural_style/neural_style/*.py"),
    Program("reinforce", f"{PE} reinforcement_learning/reinforce.py"),
    # PyTorch CPU has no CUDA graphs: the program's run under real torch needs a CUDA GPU
    Program("cuda_graphs", "pytorch/pytorch docs/source/notes/cuda.rst (CUDA Graphs)", fast=True,
            torch_needs="a CUDA GPU (torch.cuda.Stream, CUDAGraph)"),
    # ---- pytorch/tutorials
    Program("nn_tutorial", f"{PT} beginner_source/nn_tutorial.py"),
    Program("neural_networks_tutorial", f"{PT} beginner_source/blitz/neural_networks_tutorial.py",
            fast=True),
    Program("cifar10_tutorial", f"{PT} beginner_source/blitz/cifar10_tutorial.py"),
    Program("quickstart_tutorial", f"{PT} beginner_source/basics/quickstart_tutorial.py",
            fast=True),
    Program("autogradqs_tutorial", f"{PT} beginner_source/basics/autogradqs_tutorial.py",
            fast=True),
    Program("tensorqs_tutorial", f"{PT} beginner_source/basics/tensorqs_tutorial.py", fast=True),
    Program("optimization_tutorial",
            f"{PT} beginner_source/basics/{{buildmodel,optimization}}_tutorial.py", fast=True),
    Program("polynomial_tensor", f"{PT} beginner_source/examples_tensor/polynomial_tensor.py"),
    Program("polynomial_autograd",
            f"{PT} beginner_source/examples_autograd/polynomial_autograd.py"),
    # runs by default in test_same_values_as_torch_from_the_same_start (under clnet and torch)
    Program("polynomial_custom_function",
            f"{PT} beginner_source/examples_autograd/polynomial_custom_function.py"),
    Program("polynomial_module",
            f"{PT} beginner_source/examples_nn/{{polynomial_module,polynomial_optim}}.py"),
    Program("dynamic_net", f"{PT} beginner_source/examples_nn/dynamic_net.py"),
    Program("saving_loading_models",
            f"{PT} beginner_source/saving_loading_models.py (+ recipes what_is_state_dict.py)",
            fast=True),
    Program("char_rnn_generation",
            f"{PT} intermediate_source/char_rnn_generation_tutorial.py"),
    Program("seq2seq_translation", f"{PT} intermediate_source/seq2seq_translation_tutorial.py"),
    Program("spatial_transformer",
            f"{PT} intermediate_source/spatial_transformer_tutorial.py"),
    Program("char_rnn_classification",
            f"{PT} intermediate_source/char_rnn_classification_tutorial.py", fast=True),
    # ---- yunjey/pytorch-tutorial
    Program("yunjey_linear_regression", f"{YJ} tutorials/01-basics/linear_regression/main.py",
            fast=True),
    Program("yunjey_logistic_regression",
            f"{YJ} tutorials/01-basics/logistic_regression/main.py", fast=True),
    Program("yunjey_feedforward",
            f"{YJ} tutorials/01-basics/feedforward_neural_network/main.py", fast=True),
    Program("yunjey_cnn",
            f"{YJ} tutorials/02-intermediate/convolutional_neural_network/main.py", fast=True),
    Program("yunjey_rnn", f"{YJ} tutorials/02-intermediate/recurrent_neural_network/main.py",
            fast=True),
    Program("yunjey_rnn",
            f"{YJ} tutorials/02-intermediate/bidirectional_recurrent_neural_network/main.py",
            argv=("--bidirectional",), variant="bidirectional"),
    Program("yunjey_resnet", f"{YJ} tutorials/02-intermediate/deep_residual_network/main.py"),
    Program("yunjey_language_model", f"{YJ} tutorials/02-intermediate/language_model/main.py",
            fast=True),
    Program("yunjey_gan", f"{YJ} tutorials/03-advanced/generative_adversarial_network/main.py"),
    Program("yunjey_vae", f"{YJ} tutorials/03-advanced/variational_autoencoder/main.py",
            fast=True),
]
