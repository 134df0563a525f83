"""``clnet export``: the trained model of a checkpoint as an ONNX file.

The config builds the model, the checkpoint (a file, or a run folder for its latest checkpoint,
as ``clnet eval`` resolves it) fills its weights, and ``clnet.onnx.export`` traces one forward on
two samples of the config's dataset (after its transforms, so shapes and dtypes are the model's
own) with a dynamic batch axis. The file is read back and checked with ``onnx.checker`` before
its path is printed. Errors go through the CLI's handler (cli/errors.py): no onnx package, a
missing or foreign checkpoint, an op that has no ONNX conversion.
"""
import os

import click

from . import errors

INPUT_NAME, OUTPUT_NAME = "input", "output"


def _need_onnx():
    try:        # onnx is the optional extra clnet[onnx]: looked for only by this command
        import onnx  # noqa: F401
    except ImportError:
        raise errors.UserError("clnet export needs the onnx package: pip install 'clnet[onnx]' "
                               "(or pip install onnx)", errors.EXIT_FAILED) from None


def _example_batch(trainer, n=2):
    """``n`` samples of the config's dataset as the model sees them (transformed)."""
    # clnet (and OpenCL) load when a command runs, not when `clnet --help` starts
    import numpy as np

    import clnet
    for ds in (trainer.val_set, trainer.test_set, trainer.train_set):
        if ds is not None and len(ds):
            xs = [np.asarray(ds[i][0]) for i in range(min(n, len(ds)))]
            return clnet.tensor(np.stack(xs))
    raise errors.UserError("clnet export: the config's dataset has no samples to trace the "
                           "model with", errors.EXIT_FAILED)


@click.command(name="export")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--checkpoint", required=True, metavar="PATH",
              help="a checkpoint file or a run folder (its latest checkpoint)")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="model.onnx",
              show_default=True, metavar="FILE", help="the ONNX file to write")
@click.option("--opset", type=int, default=None, metavar="N",
              help="the ONNX opset to target (17 to 21; default 17)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config key, as for clnet eval")
def export(config, checkpoint, output, opset, overrides):
    """Write the model of CONFIG with the weights of a checkpoint to an ONNX file: input
    'input' and output 'output', batch axis dynamic. Needs clnet[onnx]."""
    _need_onnx()
    # late imports: onnx is optional (checked above); clnet loads OpenCL
    import onnx

    import clnet
    import clnet.onnx
    from clnet.onnx.export import OPSETS
    from clnet.train import Trainer, load_config
    if opset is not None and opset not in OPSETS:
        raise click.BadParameter(f"opset {opset} is not one clnet exports (it writes opsets "
                                 f"{OPSETS.start} to {OPSETS.stop - 1})", param_hint="--opset")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{output}: the folder {folder} does not exist",
                                 param_hint="--output")
    trainer = Trainer(load_config(config, overrides), resume=checkpoint, quiet=True,
                      evaluation=True)
    x = _example_batch(trainer)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    try:
        clnet.onnx.export(trainer.model, (x,), output, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=opset)
    except clnet.onnx.UnsupportedOperatorError as e:
        raise errors.UserError(f"{e} (exporting {config})", errors.EXIT_FAILED) from None
    try:
        onnx.checker.check_model(onnx.load(output), full_check=True)
    except onnx.checker.ValidationError as e:
        raise errors.UserError(f"clnet export wrote {output}, but onnx.checker refuses it (a "
                               f"bug in clnet's exporter): {e}", errors.EXIT_INTERNAL) from None
    shape = ["batch"] + list(x.shape[1:])
    click.echo(f"exported {type(trainer.model).__name__} ({trainer.resumed_from}) to {output}: "
               f"input '{INPUT_NAME}' {str(x.dtype).replace('clnet.', '')} {shape}")
