"""``clnet train``, ``clnet eval`` and ``clnet predict``: parse, call clnet.train, print.

Errors are not caught here: the top-level group (cli/errors.py) reports every user error as one
``Error: ...`` line with its exit code.
"""
import json
import math

import click


def _trainer(config, overrides, **kwargs):
    from clnet.train import Trainer, load_config
    return Trainer(load_config(config, overrides), **kwargs)


def _format_value(v):
    if isinstance(v, float):
        return f"{v:.4f}" if math.isfinite(v) and abs(v) >= 1e-3 else f"{v:.4g}"
    return str(v)


def format_dry_run(result):
    """What Trainer.dry_run() returned, as one line: a mapping as 'key value, ...'."""
    if result is None:
        return None
    if isinstance(result, dict):
        return ", ".join(f"{k} {_format_value(v)}" for k, v in result.items())
    return str(result)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config key, e.g. --set optimizer.lr=0.01 (repeatable)")
@click.option("--resume", metavar="PATH", help="continue from a run folder or checkpoint file")
@click.option("--dry-run", is_flag=True,
              help="validate, build everything, run one forward and backward pass on one batch, "
                   "print the model, and exit without training or writing anything")
@click.option("--quiet", is_flag=True, help="print only the final summary")
def train(config, overrides, resume, dry_run, quiet):
    """Train the model described by CONFIG (a YAML file)."""
    trainer = _trainer(config, overrides, resume=resume, quiet=quiet)
    click.echo(trainer.describe())
    if dry_run:
        line = format_dry_run(trainer.dry_run())
        if line:
            click.echo(f"dry run: {line}")
        click.echo("config is valid; one forward and backward pass ran (dry run: nothing "
                   "trained)")
        return
    if resume:
        click.echo(f"resuming from {trainer.resumed_from} (epoch {trainer.epoch}, "
                   f"step {trainer.step})")
    click.echo(f"run folder: {trainer.run_dir}")
    result = trainer.fit()           # Ctrl-C: the trainer writes a checkpoint; exit code 130
    test = result["test"]
    if test:
        click.echo("final test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    click.echo(f"checkpoint: {result['checkpoint']}")


@click.command(name="eval")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--checkpoint", required=True, metavar="PATH",
              help="a checkpoint file or a run folder (its latest checkpoint)")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test",
              show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def eval_cmd(config, checkpoint, split, overrides, as_json):
    """Report metrics of a checkpoint on a split of the config's dataset."""
    trainer = _trainer(config, overrides, resume=checkpoint, quiet=True, evaluation=True)
    metrics = trainer.evaluate(split)
    if not metrics:
        raise click.BadParameter(f"the dataset has no {split} split", param_hint="--split")
    if as_json:
        click.echo(json.dumps(metrics))
    else:
        click.echo(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--checkpoint", required=True, metavar="PATH")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="a .npy or .npz file of inputs (one sample per row, the model's input shape)")
@click.option("--output", type=click.Path(dir_okay=False), help="write predictions to a .npy")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def predict(config, checkpoint, input_path, output, overrides):
    """Run a checkpoint on inputs from a file; print (or save) the predicted classes."""
    from clnet.train import predict_file
    trainer = _trainer(config, overrides, resume=checkpoint, quiet=True, evaluation=True)
    try:
        preds = predict_file(trainer, input_path)
    except ValueError as e:          # the input file: wrong suffix, shape or contents
        raise click.BadParameter(str(e), param_hint="--input") from None
    if output:
        import numpy as np
        np.save(output, preds)
        click.echo(f"wrote {len(preds)} predictions to {output}")
    else:
        for p in preds.tolist():
            click.echo(p)
