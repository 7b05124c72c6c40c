"""The ``s2e`` command line.

Each stage adds its commands as a module under :mod:`s2e_lib.cli` exposing a
:class:`click.Command` (or Group), registered in :data:`COMMANDS`. Commands are imported
only when run, so ``s2e --help`` is instant and one stage's heavy imports (torch, dlib)
never slow another's.

Errors: a :class:`~s2e_lib.errors.S2EError` (bad input, missing file, unknown emotion)
prints one line ``error: ...`` to stderr and exits 2, and so does click's own usage error
(missing option, bad choice, bad integer); any other exception prints one line and exits 1.
Option values are checked when the command line is read, before any work (the types in
:mod:`s2e_lib.cli.types`). ``s2e --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

import click

from s2e_lib import __version__
from s2e_lib.errors import S2EError, user_message

#: name -> ("module:attribute", one-line help shown by ``s2e --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("s2e_lib.cli.doctor:doctor", "Show versions, available models and data locations."),
    "notebooks": ("s2e_lib.cli.notebooks:notebooks", "List and execute the workbook notebooks (papermill)."),
    "sample": ("s2e_lib.cli.data:sample", "Generate the offline MEAD-layout sample corpus."),
    "prepare": ("s2e_lib.cli.data:prepare", "Prepare MEAD or RAVDESS: manifest, 16 kHz audio, frames."),
    "ser": ("s2e_lib.cli.ser:ser", "Speech emotion recognition: train, eval, predict."),
    "align": ("s2e_lib.cli.face:align", "Detect a face and align it to an FFHQ crop."),
    "edit": ("s2e_lib.cli.face:edit", "Change a face's expression to an emotion (warp, pix2pixhd, ials)."),
    "pix2pixhd": (
        "s2e_lib.cli.pix2pixhd:pix2pixhd",
        "pix2pixHD sign-conditioned editing: dataset, training.",
    ),
    "ials": ("s2e_lib.cli.ials:ials", "IALS latent editing on StyleGAN: invert, edit."),
    "run": ("s2e_lib.cli.run:run", "Voice -> emotion -> face, end to end."),
}


def _available(name: str) -> bool:
    module_name = COMMANDS[name][0].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module_name, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s2e")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """speech2expression: hear the emotion in a voice and change a face to match.

    Stages: data (sample, prepare) -> speech emotion (ser) -> face (align, edit,
    pix2pixhd, ials) -> end to end (run). Workbook: notebooks. Health: doctor.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(os.environ.get("S2E_DEBUG"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``s2e``: runs the CLI and turns errors into one line + exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("S2E_DEBUG"))
    try:
        result = cli.main(args=args, prog_name="s2e", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `s2e ser` alone: show the group's help
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:  # a usage error: its traceback would say nothing more
        click.echo(f"error: {_click_message(exc)}", err=True)
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except S2EError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except OSError as exc:  # a path the user gave cannot be read or written
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            click.echo(
                f"error: {where}no space left on device (nothing half-written was kept; "
                "free some space and run it again: finished work resumes)",
                err=True,
            )
            return 2
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        return 2
    except Exception as exc:  # a bug or an unexpected environment problem
        if debug:
            raise
        message = user_message(exc)
        if message is not None:  # a PyAV (FFmpeg) error about an input file that escaped unwrapped
            click.echo(f"error: {message}", err=True)
            return 2
        click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    # Commands may return an int exit status (e.g. 2 when one of several files was bad).
    return result if isinstance(result, int) else 0


def _click_message(exc: click.ClickException) -> str:
    """Click's own error (missing option, bad choice, bad integer) as one line naming the option,
    with a pointer to the command's --help for usage errors."""
    message = exc.format_message()
    param = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter) and param:
        name = max(param.opts, key=len) if param.param_type_name == "option" else (param.name or "").upper()
        message = f"{name}: {exc.message}"
    message = " ".join(message.split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message = f"{message.rstrip('.')} (see '{ctx.command_path} --help')"
    return message


def run_main() -> None:  # pragma: no cover - used by `python -m s2e_lib.cli`
    sys.exit(main())
