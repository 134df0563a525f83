"""MkDocs hooks (``hooks:`` in mkdocs.yml): the pages generated from the code at build time.

- ``cli.md``: every command of the ``clnet`` click app with its ``--help``, walked from
  ``clnet.cli.main.cli``;
- ``config.md``: every key of the training config, from ``clnet.train.config.SCHEMA`` (type,
  default, allowed values, description), with an example config from ``examples/``;
- ``guide.md``: README.md, its links rewritten for the site.

They are generated, not written into ``docs/``, so they cannot go stale and the build leaves the
work tree as it was. The functions are plain (markdown in, markdown out) so tests/test_docs.py
can check them without running MkDocs.
"""
import json
import os
import re

import click

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_CONFIG = "examples/digits_mlp.yaml"
HELP_WIDTH = 100


# ------------------------------------------------------------------ CLI reference
def iter_commands(command=None, name="clnet", parent=None):
    """(full name, click command, its click Context) for ``command`` and every subcommand below
    it, depth first, subcommands in click's listing order."""
    if command is None:
        from clnet.cli.main import cli as command
    settings = {**command.context_settings, "terminal_width": HELP_WIDTH,
                "max_content_width": HELP_WIDTH}      # the same text on every machine
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx.command_path, command, ctx
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            yield from iter_commands(command.get_command(ctx, sub), sub, ctx)


def cli_reference():
    """The CLI reference page: each command's ``--help``, as ``clnet ... --help`` prints it."""
    out = ["# CLI reference", "",
           "Generated when the docs are built, from the `clnet` click app (`clnet.cli.main`): "
           "each section is what `--help` prints for that command. The exit codes are in the "
           "[user guide](guide.md#training-from-a-config-file).", ""]
    for path, command, ctx in iter_commands():
        out += [f"## `{path}`", ""]
        if command.hidden:
            out += ["(hidden command)", ""]
        out += ["```text", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(out)


# ------------------------------------------------------------------ config reference
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping",
               list: "list", type(None): "null"}


def _flat(types):
    """isinstance's nested type tuples, flattened: (list, (int, float)) -> (list, int, float)."""
    out = ()
    for t in types:
        out += _flat(t) if isinstance(t, tuple) else (t,)
    return out


def _type_text(field):
    types = _flat(field.types)
    if float in types:                     # an integer is a number too
        types = tuple(t for t in types if t is not int)
    names = [_TYPE_NAMES.get(t, t.__name__) for t in types]
    if field.items is not None and "list" in names:
        names[names.index("list")] = f"list of {_type_text(field.items)}"
    return " or ".join(dict.fromkeys(names))


def _escape(text):
    """Markdown table-cell text: no raw HTML (``<run_dir>``), no column breaks."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("*", "\\*"))


def _allowed(field):
    parts = []
    if field.choices is not None:
        parts.append("one of " + ", ".join(f"`{c}`" for c in field.choices))
    if field.min is not None and field.max is not None:
        parts.append(f"{field.min} to {field.max}")
    elif field.min is not None:
        parts.append(f"&ge; {field.min}")
    elif field.max is not None:
        parts.append(f"&le; {field.max}")
    item = field.items
    if item is not None and (item.choices is not None or item.min is not None
                             or item.max is not None):
        parts.append("each: " + _allowed(item))
    return "; ".join(parts)


def _default(field, open_parent):
    if field.required:
        return "**required**"
    if open_parent:                        # absent keys are left to the class's own default
        return "(the class's default)"
    return f"`{json.dumps(field.default)}`"


def iter_config_keys(schema=None, prefix=""):
    """(dotted key, Field, is the parent an open mapping) for every key of the config schema;
    the keys of a list's items are ``key[].name``."""
    if schema is None:
        from clnet.train.config import SCHEMA as schema
    for name, field in schema.items():
        yield prefix + name, field, False
    for name, field in schema.items():
        yield from _below(prefix + name, field)


def _below(key, field):
    if field.schema is not None:
        for name, sub in field.schema.items():
            yield f"{key}.{name}", sub, field.open
        for name, sub in field.schema.items():
            yield from _below(f"{key}.{name}", sub)
    if field.items is not None:
        yield from _below(key + "[]", field.items)


def _table(rows):
    out = ["| key | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    for key, field, open_parent in rows:
        out.append(f"| `{key}` | {_escape(_type_text(field))} | {_default(field, open_parent)} | "
                   f"{_allowed(field)} | {_escape(field.doc)} |")
    return out


def config_reference():
    """The config reference page: a table of the top-level keys, then one per mapping."""
    from clnet.train.config import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_VALUES
    keys = list(iter_config_keys())
    out = ["# Config reference", "",
           "Generated when the docs are built, from the schema that `clnet train`, `clnet eval`, "
           "`clnet predict` and `clnet.train.load_config` validate against "
           "(`clnet.train.config.SCHEMA`), so every key listed here is accepted and every "
           "accepted key is listed. An unknown key, a wrong type or a value out of range is "
           "an error naming the file and line (or the `--set` argument) before anything "
           "starts; `--set a.b=value` overrides a key with a value read like the file's.", "",
           f"Limits of the YAML loader: files up to {MAX_BYTES // 2 ** 20} MiB of UTF-8 text, "
           f"at most {MAX_ALIASES} aliases and {MAX_VALUES:,} values once aliases are expanded, "
           f"nesting at most {MAX_DEPTH} deep, no duplicate keys.", "",
           "## Top-level keys", ""]
    out += _table([k for k in keys if "." not in k[0] and "[]" not in k[0]])
    sections = {}
    for key, field, open_parent in keys:
        if "." in key or "[]" in key:
            parent = key.rsplit(".", 1)[0]
            sections.setdefault(parent, []).append((key, field, open_parent))
    for parent, rows in sections.items():
        out += ["", f"## `{parent}`", ""]
        if rows[0][2]:
            out += [f"`{parent}` is open: keys other than these pass through to the class it "
                    "names and are checked against its constructor's signature; a key left "
                    "out takes the class's own default.", ""]
        out += _table(rows)
    example = os.path.join(ROOT, EXAMPLE_CONFIG)
    with open(example, encoding="utf-8") as f:
        text = f.read()
    out += ["", "## An example", "", f"`{EXAMPLE_CONFIG}`:", "", "```yaml", text.rstrip(),
            "```", ""]
    return "\n".join(out)


# ------------------------------------------------------------------ README as the user guide
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")


def readme_guide():
    """README.md as the site's user guide: its title replaced, links into docs/ made site links,
    a link to another file of the repository turned into its text and path (the site has no
    copy of that file); a link to a file that does not exist is an error."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines)

    def link(match):
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
            return match.group(0)              # a URL, or an anchor MkDocs checks
        if target.startswith("docs/"):
            return f"[{label}]({target[len('docs/'):]})"
        if not os.path.exists(os.path.join(ROOT, target.split("#", 1)[0])):
            raise ValueError(f"README.md links to {target!r}, which does not exist")
        return label if label == f"`{target}`" else f"{label} (`{target}`)"

    body = _LINK.sub(link, body)
    return ("# User guide\n\n"
            "This page is the project's README.md, as it is in the source tree.\n" + body)


# ------------------------------------------------------------------ MkDocs hook
GENERATED = {"cli.md": cli_reference, "config.md": config_reference, "guide.md": readme_guide}


def on_files(files, config):
    """Add the generated pages to the site (in memory: nothing is written under docs/)."""
    from mkdocs.structure.files import File
    for name, make in GENERATED.items():
        if files.get_file_from_path(name) is not None:
            raise ValueError(f"docs/{name} exists, but docs/hooks.py generates that page; "
                             "remove the file")
        files.append(File.generated(config, name, content=make()))
    return files
