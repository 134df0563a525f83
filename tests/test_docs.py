"""The docs site's generated pages and hand-written examples cannot go stale.

docs/hooks.py generates the CLI reference (from the click app), the config reference (from the
config schema) and the user guide (from README.md) when MkDocs builds the site; these tests call
the generators directly and check them against the code, independently of how they walk it.
The full strict build runs in CI (.ci/run) and, marked slow, here.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import click
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("clnet_docs_hooks",
                                                  os.path.join(DOCS, "hooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


# ------------------------------------------------------------------ config reference
def _schema_keys(schema, prefix=""):
    for name, field in schema.items():
        key = prefix + name
        yield key, field
        if field.schema is not None:
            yield from _schema_keys(field.schema, key + ".")
        item = field.items
        if item is not None and item.schema is not None:
            yield from _schema_keys(item.schema, key + "[].")


def test_the_config_reference_lists_every_key_of_the_schema_with_its_default(hooks):
    from clnet.train.config import SCHEMA
    page = hooks.config_reference()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", page, re.M)}
    keys = dict(_schema_keys(SCHEMA))
    assert len(keys) > 60
    assert set(rows) == set(keys)
    open_parents = {key for key, field in keys.items() if field.open}
    for key, field in keys.items():
        if field.required:
            assert "**required**" in rows[key], key
        elif key.rsplit(".", 1)[0] not in open_parents:
            assert f"`{json.dumps(field.default)}`" in rows[key], (key, rows[key])


def test_every_config_key_has_a_description():
    from clnet.train.config import SCHEMA
    undocumented = [key for key, field in _schema_keys(SCHEMA) if not field.doc.strip()]
    assert not undocumented, ("config keys without a description (Field(doc=...) in "
                              f"clnet/train/config.py; the config reference shows it): "
                              f"{undocumented}")


def test_the_config_reference_shows_choices_ranges_and_the_example(hooks):
    page = hooks.config_reference()
    row = next(line for line in page.splitlines() if line.startswith("| `data.val_split` |"))
    assert "0.0 to 0.9" in row and "`0.1`" in row and "number" in row
    row = next(line for line in page.splitlines() if line.startswith("| `loss.reduction` |"))
    assert "one of `mean`, `sum`, `none`" in row
    assert "<" not in page.split("## An example")[0].replace("&lt;", "")  # no raw HTML
    example = _read(hooks.EXAMPLE_CONFIG)
    assert example.rstrip() in page


# ------------------------------------------------------------------ CLI reference
def _commands(group, path):
    ctx = click.Context(group, info_name=path.split()[-1])
    yield path, group
    if isinstance(group, click.Group):
        for name in group.list_commands(ctx):
            yield from _commands(group.get_command(ctx, name), f"{path} {name}")


def test_the_cli_reference_has_every_command_with_all_its_options(hooks):
    from clnet.cli.main import cli
    page = hooks.cli_reference()
    sections = re.split(r"^## ", page, flags=re.M)[1:]
    by_path = {s.split("\n", 1)[0].strip("`"): s for s in sections}
    commands = dict(_commands(cli, "clnet"))
    assert {"clnet", "clnet train", "clnet eval", "clnet predict", "clnet devices"} <= set(commands)
    assert set(by_path) == set(commands)
    for path, command in commands.items():
        text = by_path[path]
        assert f"Usage: {path} " in text, path
        for param in command.params:
            for opt in getattr(param, "opts", ()):
                if opt.startswith("-"):
                    assert opt in text, (path, opt)


# ------------------------------------------------------------------ user guide (README)
def test_the_guide_is_the_readme_with_site_links(hooks):
    page = hooks.readme_guide()
    readme = _read("README.md")
    assert page.startswith("# User guide\n")
    assert "](docs/" not in page
    if "](docs/architecture.md)" in readme:
        assert "](architecture.md)" in page
    last = readme.rstrip().splitlines()[-1].replace("](docs/", "](")
    assert last in page


def test_a_readme_link_to_a_file_outside_the_site_shows_its_path(hooks, monkeypatch, tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "RESULTS.md").write_text("figures\n")
    (tmp_path / "README.md").write_text("# clnet\n\nSee [the results](bench/RESULTS.md), "
                                        "[a URL](https://example.org) and [here](#here).\n")
    monkeypatch.setattr(hooks, "ROOT", str(tmp_path))
    page = hooks.readme_guide()
    assert "See the results (`bench/RESULTS.md`), [a URL](https://example.org) and " \
           "[here](#here)." in page


def test_a_readme_link_to_a_missing_file_is_an_error(hooks, monkeypatch, tmp_path):
    (tmp_path / "README.md").write_text("# clnet\n\nSee [the results](bench/RESULTS.md).\n")
    monkeypatch.setattr(hooks, "ROOT", str(tmp_path))
    with pytest.raises(ValueError, match="bench/RESULTS.md"):
        hooks.readme_guide()


# ------------------------------------------------------------------ hand-written pages
def _differences(readme):
    section = readme.split("\n## Where clnet differs from PyTorch\n", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.split(r"^- ", section, flags=re.M) if b.strip()]


def test_the_migration_guide_covers_every_difference_the_readme_lists():
    readme, guide = _read("README.md"), _read("docs", "migration.md")
    bullets = _differences(readme)
    assert len(bullets) > 20
    missing = {}
    for bullet in bullets:
        names = [n for n in re.findall(r"`([^`]+)`", bullet) if n not in guide]
        if names:
            missing[bullet.split("\n", 1)[0][:70]] = names
    assert not missing, ("README's 'Where clnet differs from PyTorch' names these, which "
                         f"docs/migration.md does not (add the difference there): {missing}")


def test_the_quickstart_config_is_the_example_file():
    page = _read("docs", "quickstart.md")
    block = re.search(r"```yaml\n(.*?)```", page, re.S).group(1)
    example = yaml.safe_load(_read("examples", "digits_mlp.yaml"))
    assert yaml.safe_load(block) == example


def _python_blocks(*parts):
    return re.findall(r"```python\n(.*?)```", _read(*parts), re.S)


@pytest.mark.parametrize("page", ["index.md", "quickstart.md"])
def test_the_python_examples_of_the_docs_run(page, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(ROOT)            # the examples name examples/*.yaml as the README does
    blocks = _python_blocks("docs", page)
    assert blocks
    for code in blocks:
        code = code.replace("/tmp/", f"{tmp_path}/")    # write nothing outside the test's folder
        exec(compile(code, f"docs/{page}", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert out.strip()


# ------------------------------------------------------------------ the build itself
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None,
                    reason="the docs extra is not installed (pip install -e '.[docs]')")
def test_the_site_builds_strictly_without_writing_into_the_tree(tmp_path):
    before = sorted(os.listdir(DOCS))
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                        str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(os.listdir(DOCS)) == before
    for page in ("cli", "config", "guide", "migration", "api/clnet", "api/nn"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
