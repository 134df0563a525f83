"""``clnet bench ...``: benchmarks printing clnet beside numpy and PyTorch CPU in one run."""
import json
import os

import click

# --model's choices: the names from the models' module (numpy only; the timing module loads on use)
from clnet.benchmarks.train_models import MODELS as TRAIN_MODELS


@click.group()
def bench():
    """Benchmarks: clnet beside numpy and PyTorch CPU, ratios first."""


@bench.command()
@click.option("--quick", is_flag=True, help="Smaller sizes (GEMM up to 512, 1M-element vectors).")
@click.option("--device", "device_name", default=None,
              help="Device to run clnet on (cl:N, a name substring, cpu, gpu); default: the default.")
@click.option("--repeats", type=click.IntRange(min=5), default=None,
              help="Timed runs per figure (median taken; at least 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def ops(quick, device_name, repeats, as_json):
    """SGEMM, elementwise add, sum and per-op host cost.

    Measure numpy fairly with the OpenBLAS tuning variables unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE clnet bench ops
    """
    from clnet.benchmarks import ops as bench_ops

    warning = bench_ops.openblas_warning()
    if warning:
        click.echo(warning, err=True)
    header, rows = bench_ops.run(quick=quick, device=device_name, repeats=repeats)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    for line in header:
        click.echo(line)
    click.echo()
    click.echo(bench_ops.format_rows(rows))


@bench.command()
@click.option("--steps", type=click.IntRange(min=1), default=5, show_default=True,
              help="Training steps per timed round.")
@click.option("--repeats", type=click.IntRange(min=5), default=5, show_default=True,
              help="Timed rounds (median taken; at least 5).")
@click.option("--model", "models", multiple=True, type=click.Choice(list(TRAIN_MODELS)),
              help="Which models (repeatable; default: all).")
@click.option("--mode", type=click.Choice(["eager", "captured", "both"]), default="both",
              show_default=True,
              help="clnet's step as Python each time (eager), captured once and replayed "
                   "(clnet.graphs), or both.")
@click.option("--device", "device_name", default=None,
              help="Device to run clnet on (cl:N, a name substring, cpu, gpu); "
                   "default: the default.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def train(steps, repeats, models, mode, device_name, as_json):
    """One training step of each model (MLP, tiny MLP, LeNet, LSTM, GRU, tiny GPT), eager and
    captured, beside PyTorch CPU: ms/step, speed, launches per step, host us per launch."""
    from clnet.benchmarks import train as bench_train
    modes = bench_train.MODES if mode == "both" else (mode,)
    load_before = os.getloadavg()
    rows = bench_train.run(models or TRAIN_MODELS, modes=modes, steps=steps, repeats=repeats,
                           device=device_name)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for line in bench_train.header_lines(steps, repeats, device=device_name,
                                         load_before=load_before):
        click.echo(line)
    click.echo()
    click.echo(bench_train.format_rows(rows))
