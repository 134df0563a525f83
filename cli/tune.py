"""``clnet tune``: measure the kernels' parameters on a device and keep the fastest correct ones."""
import json

import click

OPS = ("gemm", "conv", "reduce", "norm", "softmax", "all")


@click.command()
@click.option("--quick", is_flag=True,
              help="Fewer candidates and shapes (about a minute on a 2-core CPU).")
@click.option("--device", "device_name", default=None,
              help="Device to tune (cl:N, a name substring, cpu, gpu); default: the default.")
@click.option("--op", type=click.Choice(OPS), default="all", show_default=True,
              help="Which kernel family to tune.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def tune(quick, device_name, op, as_json):
    """Tune the kernels for a device: every candidate's result is checked against the default
    kernel's, the fastest is kept in the device's tuning file, which every later clnet process
    reads ($CLNET_TUNING_CACHE, else $XDG_CACHE_HOME/clnet/tuning/, else ~/.cache/clnet/tuning/).
    `clnet devices` shows which devices are tuned."""
    # clnet and the search load OpenCL: imported when the command runs, so `clnet --help`
    # and the other commands stay fast
    import clnet
    from clnet.backend import tuning as store
    from clnet.tuning import families, search

    dev = clnet.device(device_name)      # an unknown device: DeviceError, one line
    store.check_writable(dev)            # before minutes of searching, not after
    chosen = families.families(op)
    if not as_json:
        click.echo(f"tuning {dev} = {dev.name} [{dev.platform_name}, {dev.kind}]: "
                   f"{', '.join(f.name for f in chosen)}{' (quick)' if quick else ''}")
    outcomes, path = search.tune(dev, chosen, quick=quick, progress=not as_json)
    if as_json:
        click.echo(json.dumps({
            "device": str(dev), "file": path,
            "families": [{"op": o.family, "default": o.default, "tuned": o.best,
                          "improved": o.improved,
                          "cases": [dict(case=r[0], unit=r[1], default_s=r[3], tuned_s=r[4])
                                    for r in o.rows],
                          "skipped": [dict(candidate=c, reason=w) for c, w in o.skipped],
                          "refused": [dict(candidate=c, case=lab) for c, lab in o.refused]}
                         for o in outcomes]}, indent=2))
        return
    click.echo()
    click.echo(search.format_outcomes(outcomes))
    click.echo()
    click.echo(search.format_choices(outcomes))
    click.echo(f"\nsaved to {path}")
