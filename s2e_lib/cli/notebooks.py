"""``s2e notebooks``: list and execute the workbook with papermill."""

from __future__ import annotations

import ast

import click

from s2e_lib.workbook import list_notebooks, parameter_names, run_notebooks, setup_checkout


def _parse_value(text: str):
    """``-p epochs 3`` gives 3, ``-p smoke True`` gives True, anything else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@click.group()
def notebooks() -> None:
    """List and execute the workbook notebooks (executed copies go to outputs/notebooks/)."""


@notebooks.command("list")
def list_cmd() -> None:
    """List the notebooks and the parameters each declares."""
    for nb in list_notebooks():
        click.echo(f"{nb.stem:36s} {', '.join(parameter_names(nb))}")


@notebooks.command("run")
@click.argument("names", nargs=-1)
@click.option("--smoke", is_flag=True, help="Small, fast run (what CI executes).")
@click.option(
    "-p",
    "--parameter",
    "params",
    type=(str, str),
    multiple=True,
    metavar="KEY VALUE",
    help="Set a papermill parameter (repeatable). Values are Python literals or strings.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where executed copies go (default outputs/notebooks).",
)
def run_cmd(
    names: tuple[str, ...], smoke: bool, params: tuple[tuple[str, str], ...], output_dir: str | None
) -> None:
    """Execute NAMES (e.g. 00 02_speech_emotion_classifier; default: all) with papermill.

    Says which mode it runs, how long each notebook should take on 2 CPU cores, shows each
    notebook's executed cells as a progress bar and prints the time each one took.
    """
    from pathlib import Path

    parameters = {key: _parse_value(value) for key, value in params}
    run_notebooks(
        names,
        parameters,
        smoke=smoke,
        output_dir=Path(output_dir) if output_dir else None,
        echo=click.echo,
    )


@notebooks.command("setup")
@click.option("--quiet", is_flag=True, help="Print only what changed.")
def setup_cmd(quiet: bool) -> None:
    """Keep notebooks what git stores: nbstripout as this checkout's git filter, and JupyterLab
    (in this environment) saving a notebook as git stores it, so stepping through one leaves
    `git status` clean. `make install` runs it."""
    from s2e_lib.paths import project_paths
    from s2e_lib.workbook import _git

    home = project_paths().home
    changed = setup_checkout(home)
    if _git(["rev-parse", "--git-dir"], home) is None and not quiet:
        click.echo(f"{home}: not a git checkout, so no git filter to set up")
    for line in changed:
        click.echo(line)
    if not changed and not quiet:
        click.echo("notebooks: git filter and JupyterLab save hook already set up")
