"""``clnet train``, ``clnet eval`` and ``clnet predict``: parse, call clnet.train, print."""
import json
import sys

import click


def _load(config, overrides):
    from clnet.train.config import ConfigError, load_config
    try:
        return load_config(config, overrides)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _fail(e):
    raise click.ClickException(str(e)) from None


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config key, e.g. --set optimizer.lr=0.01 (repeatable)")
@click.option("--resume", metavar="PATH", help="continue from a run folder or checkpoint file")
@click.option("--dry-run", is_flag=True, help="validate, build the model, print it, and exit")
@click.option("--quiet", is_flag=True, help="print only the final summary")
def train(config, overrides, resume, dry_run, quiet):
    """Train the model described by CONFIG (a YAML file)."""
    from clnet.train import ConfigError, Trainer, TrainingDiverged
    cfg = _load(config, overrides)
    try:
        trainer = Trainer(cfg, resume=resume, quiet=quiet)
    except (ConfigError, FileNotFoundError) as e:
        _fail(e)
    click.echo(trainer.describe())
    if dry_run:
        click.echo("config is valid (dry run: nothing trained)")
        return
    if resume:
        click.echo(f"resuming from {trainer.resumed_from} (epoch {trainer.epoch}, "
                   f"step {trainer.step})")
    click.echo(f"run folder: {trainer.run_dir}")
    try:
        result = trainer.fit()
    except KeyboardInterrupt:
        sys.exit(130)
    except TrainingDiverged as e:
        _fail(e)
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
    from clnet.train import ConfigError, Trainer
    cfg = _load(config, overrides)
    try:
        trainer = Trainer(cfg, resume=checkpoint, quiet=True)
    except (ConfigError, FileNotFoundError) as e:
        _fail(e)
    metrics = trainer.evaluate(split)
    if not metrics:
        _fail(f"the dataset has no {split} split")
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
    from clnet.train import ConfigError, Trainer, predict_file
    cfg = _load(config, overrides)
    try:
        trainer = Trainer(cfg, resume=checkpoint, quiet=True)
        preds = predict_file(trainer, input_path)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        _fail(e)
    if output:
        import numpy as np
        np.save(output, preds)
        click.echo(f"wrote {len(preds)} predictions to {output}")
    else:
        for p in preds.tolist():
            click.echo(p)
