"""``clnet devices`` (the OpenCL devices clnet can use) and ``clnet info`` (versions and paths)."""
import json
import platform
import re
import sys

import click


def _mib(n):
    return f"{n / 2 ** 20:,.0f} MiB" if n >= 2 ** 20 else f"{n / 1024:,.0f} KiB"


def _short_cl_version(text):
    m = re.search(r"OpenCL (\d+\.\d+)", text)
    return m.group(1) if m else text


_COLUMNS = [  # header, how to render one Device.info() dict
    ("", lambda i: "*" if i["default"] else ""),
    ("name", lambda i: i["name"]),
    ("platform", lambda i: i["platform"]),
    ("device", lambda i: i["device"]),
    ("type", lambda i: i["type"]),
    ("vendor", lambda i: i["vendor"]),
    ("OpenCL", lambda i: _short_cl_version(i["opencl_version"])),
    ("CUs", lambda i: str(i["compute_units"])),
    ("clock", lambda i: f"{i['clock_mhz']} MHz"),
    ("global mem", lambda i: _mib(i["global_mem_bytes"])),
    ("local mem", lambda i: _mib(i["local_mem_bytes"])),
    ("max WG", lambda i: str(i["max_work_group_size"])),
    ("fp16", lambda i: "yes" if i["fp16"] else "no"),
    ("fp64", lambda i: "yes" if i["fp64"] else "no"),
    ("tuned", lambda i: {"tuned": "yes", "stale": "stale"}.get(i["tuning"], "no")),
]


def format_table(infos):
    """The device table as text: one row per device, '*' marks the default."""
    rows = [[h for h, _ in _COLUMNS]] + [[f(i) for _, f in _COLUMNS] for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _device_infos():
    """Device.info() of every device. No device, or a CLNET_DEVICE that matches none, raises
    clnet.DeviceError, which the command line reports as one line (cli/errors.py)."""
    import clnet
    devs = clnet.devices()
    if not devs:
        clnet.device("cl:0")     # raises the message clnet.device() gives, with the same fix
    clnet.default_device()       # a bad CLNET_DEVICE is reported here, with the devices listed
    return [d.info() for d in devs]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def devices(as_json):
    """List the OpenCL devices; '*' marks the default (CLNET_DEVICE overrides it)."""
    infos = _device_infos()
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    click.echo(format_table(infos))
    click.echo("\n* = default device. Choose another with CLNET_DEVICE=<cl:N|name|cpu|gpu> "
               "or clnet.device(...).")
    if any(i["tuning"] != "tuned" for i in infos):
        click.echo("tuned = `clnet tune` has measured the kernels' parameters for the device "
                   "(stale: under another driver or clnet version); run `clnet tune --device "
                   "<name>` to tune one.")


@click.command()
def info():
    """Versions of clnet and its dependencies, the default device and where kernels live."""
    import numpy
    import pyopencl

    import clnet
    from clnet.backend.programs import kernel_dir
    click.echo(f"clnet     {clnet.__version__}")
    click.echo(f"python    {platform.python_version()} ({sys.executable})")
    click.echo(f"numpy     {numpy.__version__}")
    click.echo(f"pyopencl  {pyopencl.VERSION_TEXT}")
    click.echo(f"kernels   {kernel_dir()}")
    d = clnet.default_device()
    click.echo(f"device    {d} = {d.name} [{d.platform_name}, {d.kind}] (of {len(clnet.devices())})")
