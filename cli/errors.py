"""How the ``clnet`` command reports failures: one place, for every command.

A user error (a bad config, checkpoint, device, dataset, input file, a diverged run) ends with
one line ``Error: <message>`` on stderr, the message naming the file, key or device and what was
expected, and a documented exit code; no traceback. ``CLNET_DEBUG=1`` prints the traceback too.
Any other exception is a bug (in clnet, or in code a config names): its traceback is printed,
then ``Error: internal error ...``, and the exit code is ``EXIT_INTERNAL``.

Exit codes (also in the README):
  0    success
  1    the run failed: checkpoint, device (including out of memory), dataset or download, a file
       that cannot be read or written, a kernel that does not build, a diverged (NaN) loss
  2    usage or config error: a bad option (click's own code for these), a bad config file or
       ``--set`` value
  70   internal error: a bug (the traceback is printed); EX_SOFTWARE of sysexits.h
  130  interrupted by Ctrl-C (128 + SIGINT, as shells report it)
"""
import os
import sys
import traceback

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# (module, class, exit code): clnet's user-error types, most specific first. They are looked up
# in sys.modules, never imported here: an exception of a type can only exist once its module is
# imported, and a failing `import clnet` must not fail again while being reported.
USER_ERRORS = (
    ("clnet.train.config", "ConfigError", EXIT_USAGE),
    ("clnet.errors", "CheckpointError", EXIT_FAILED),
    ("clnet.errors", "DeviceError", EXIT_FAILED),          # OutOfMemoryError is one
    ("clnet.errors", "KernelBuildError", EXIT_FAILED),
    ("clnet.data.download", "DatasetNotFoundError", EXIT_FAILED),
    ("clnet.data.download", "DownloadError", EXIT_FAILED),
    ("clnet.train.trainer", "TrainingDiverged", EXIT_FAILED),
    # bad values in the data, found by a kernel (a label out of range for the model's classes)
    ("clnet.backend.device_errors", "DeviceIndexError", EXIT_FAILED),
    ("clnet.backend.device_errors", "DeviceValueError", EXIT_FAILED),
)


def debug_enabled():
    return os.environ.get("CLNET_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _message(exc):
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return f"out of host memory{': ' + str(exc) if str(exc) else ''}"
    return str(exc) or type(exc).__name__


def classify(exc):
    """The exit code of a user error, or None for an exception that is a bug."""
    for module, name, code in USER_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return code
    if isinstance(exc, (OSError, MemoryError)):
        return EXIT_FAILED
    return None


class UserError(click.ClickException):
    """Shown as ``Error: <message>`` on stderr; the process exits with ``exit_code``."""

    def __init__(self, message, exit_code=EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class ClnetGroup(click.Group):
    """The top-level group: maps every exception a command raises to ``Error: ...`` and an exit
    code (see the module's docstring). Subcommands and subgroups run inside its ``invoke``."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            if debug_enabled():
                click.echo(traceback.format_exc(), err=True, nl=False)
            raise UserError("interrupted (Ctrl-C)", EXIT_INTERRUPTED) from None
        except Exception as exc:        # noqa: BLE001 - this is the one place that reports them
            code = classify(exc)
            if code is None:
                click.echo(traceback.format_exc(), err=True, nl=False)
                raise UserError(f"internal error: {type(exc).__name__}: {_message(exc)}. This is "
                                "a bug in clnet (or in code the config names); the traceback "
                                "above shows where", EXIT_INTERNAL) from None
            if debug_enabled():
                click.echo(traceback.format_exc(), err=True, nl=False)
            raise UserError(_message(exc), code) from None
