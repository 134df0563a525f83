"""``clnet train``, ``clnet eval`` and ``clnet predict``: parse, call clnet.train, print.

Errors are not caught here: the top-level group (cli/errors.py) reports every user error as one
``Error: ...`` line with its exit code. One exception: a rank of an MPI job (``mpiexec -n K clnet
train``, or ``--nproc K``) that fails must end the whole job, since the other ranks may be waiting
for it in a collective: it prints ``Error: rank R of K: ...`` and calls MPI_Abort with the same
exit code.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback

import click

from . import errors


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
@click.option("--nproc", type=click.IntRange(min=1), default=None, metavar="K",
              help="data-parallel over K processes: runs mpiexec -n K clnet train ... (needs "
                   "clnet[distributed]; the effective batch is K x batch_size)")
def train(config, overrides, resume, dry_run, quiet, nproc):
    """Train the model described by CONFIG (a YAML file)."""
    if nproc is not None and nproc > 1:
        sys.exit(_launch(nproc, config, overrides, resume, dry_run, quiet))
    try:
        _train(config, overrides, resume, dry_run, quiet)
    except BaseException as exc:  # noqa: BLE001 - a failing rank ends the job (see above)
        _end_job_if_distributed(exc)
        raise


def _launch(nproc, config, overrides, resume, dry_run, quiet):
    """Run ``clnet train`` in ``nproc`` processes under the installed mpiexec; its exit code."""
    from clnet.train.distributed import launched_by_mpi, threads_per_rank
    if launched_by_mpi():
        raise click.UsageError("--nproc starts mpiexec itself; under mpiexec leave it out")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if mpiexec is None:
        raise click.UsageError("--nproc needs MPI's mpiexec: pip install 'clnet[distributed]' "
                               "(mpi4py and the MPICH wheel), or put your MPI's mpiexec on PATH")
    args = ["train", config] + [a for o in overrides for a in ("--set", o)]
    args += ["--resume", resume] if resume else []
    args += ["--dry-run"] if dry_run else []
    args += ["--quiet"] if quiet else []
    env = dict(os.environ)
    env.setdefault("POCL_MAX_PTHREAD_COUNT", str(threads_per_rank(nproc)))
    cmd = [mpiexec, "-n", str(nproc), sys.executable, "-m", "clnet.cli.main"] + args
    return subprocess.call(cmd, env=env)


def _end_job_if_distributed(exc):
    """In an MPI job of several ranks: report ``exc`` naming this rank and abort the job."""
    dist = sys.modules.get("clnet.distributed")
    if dist is None or not dist.is_initialized() or dist.get_world_size() == 1:
        return
    if isinstance(exc, SystemExit) and not exc.code:
        return
    rank = dist.get_rank()
    if isinstance(exc, KeyboardInterrupt):
        # rank 0 writes a checkpoint, then aborts the job; the others wait to be ended by it
        if rank != 0:
            time.sleep(120)
            os._exit(errors.EXIT_INTERRUPTED)
        dist.process_group.abort_job("interrupted (Ctrl-C); rank 0 wrote a checkpoint",
                                     errors.EXIT_INTERRUPTED)
    code = errors.classify(exc) if isinstance(exc, Exception) else errors.EXIT_FAILED
    details = None
    if code is None:
        code = errors.EXIT_INTERNAL
        details = traceback.format_exc()
    elif errors.debug_enabled():
        details = traceback.format_exc()
    dist.process_group.abort_job(errors._message(exc), code, details)


def _train(config, overrides, resume, dry_run, quiet):
    trainer = _trainer(config, overrides, resume=resume, quiet=quiet)
    text = trainer.describe()        # a collective in an MPI job: every rank calls it
    echo = click.echo if trainer.is_main else (lambda *a, **k: None)
    say = (lambda *a, **k: None) if quiet else echo   # --quiet: the final summary only
    say(text)
    if dry_run:
        line = format_dry_run(trainer.dry_run())
        if line:
            echo(f"dry run: {line}")
        echo("config is valid; one forward and backward pass ran (dry run: nothing trained)")
        return
    if resume:
        say(f"resuming from {trainer.resumed_from} (epoch {trainer.epoch}, step {trainer.step})")
    say(f"run folder: {trainer.run_dir}")
    result = trainer.fit()           # Ctrl-C: the trainer writes a checkpoint; exit code 130
    if quiet and result.get("stopped"):          # (printed as it happened otherwise)
        echo(f"stopped: {result['stopped']}")
    test = result["test"]
    if test:
        echo("final test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    echo(f"checkpoint: {result['checkpoint']}")


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
@click.option("--checkpoint", required=True, metavar="PATH",
              help="a checkpoint file or a run folder (its latest checkpoint)")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="a .npy or .npz file of samples as the dataset stores them (one per row); "
                   "the dataset's conversion and the config's transforms are applied")
@click.option("--top-k", "top_k", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="K", help="report the K most probable classes of each sample")
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="write the predictions to FILE.csv, FILE.json or FILE.npy (top-1 classes); "
                   "the format follows the extension")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def predict(config, checkpoint, input_path, top_k, output, overrides):
    """Run a checkpoint on inputs from a file; print (or save) the top classes of each sample
    with their probabilities, named by the dataset's classes where it has them."""
    from clnet.train.predict import NOT_A_CLASSIFIER, InputError, format_rows, is_classifier, \
        output_format, predict_file, write_predictions
    if output:
        try:
            output_format(output)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--output") from None
    trainer = _trainer(config, overrides, resume=checkpoint, quiet=True, evaluation=True)
    if not is_classifier(trainer):
        raise click.UsageError(NOT_A_CLASSIFIER)
    try:
        preds = predict_file(trainer, input_path, top_k=top_k)
    except InputError as e:          # the input file: wrong suffix, shape or contents
        raise click.BadParameter(str(e), param_hint="--input") from None
    except ValueError as e:          # K larger than the model's classes, a non-classifier
        raise click.BadParameter(str(e), param_hint="--top-k") from None
    if output:
        write_predictions(preds, output)
        click.echo(f"wrote {len(preds)} predictions to {output}")
    else:
        for line in format_rows(preds):
            click.echo(line)
