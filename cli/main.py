"""The ``clnet`` console script: a click group; each subcommand lives in its own module."""
from typing import NoReturn, Optional, Sequence

import click

from clnet._version import __version__

from .bench import bench
from .devices import devices, info
from .errors import ClnetGroup
from .export import export
from .train import eval_cmd, predict, train
from .tune import tune


@click.group(cls=ClnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="clnet",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """clnet: an OpenCL-portable deep learning runtime that speaks PyTorch.

    Exit codes: 0 success, 1 the run failed, 2 usage or config error, 70 internal error (a bug;
    the traceback is printed), 130 Ctrl-C. CLNET_DEBUG=1 prints the traceback of any error.
    """


cli.add_command(devices)
cli.add_command(info)
cli.add_command(bench)
cli.add_command(train)
cli.add_command(eval_cmd)
cli.add_command(predict)
cli.add_command(export)
cli.add_command(tune)


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of the console script (``argv`` for tests; default: sys.argv)."""
    cli.main(args=argv, prog_name="clnet")   # standalone: exits with the command's status


if __name__ == "__main__":
    main()
