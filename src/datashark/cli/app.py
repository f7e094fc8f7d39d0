"""The Typer application: discovers the command modules of `datashark.cli` and lets each register.

Each module in this package that defines `register(app, groups)` adds its commands. Shared groups
(`models`, `bench`, `eval`, `data`, `plugin`) are created here so that several modules can add
sub-commands to one group (`bench engine` lives with the engine commands, `bench server` with the
server's). Modules import their layer inside the command functions, so `datashark --help` stays fast
and never imports torch.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

GROUPS = {
    "models": "Pull, list and import model files in the local cache.",
    "bench": "Benchmarks: print a table and write JSON.",
    "eval": "Evaluate models and providers.",
    "data": "Build training corpora.",
    "plugin": "Build and install the Roblox Studio plugin.",
}


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="datashark",
        help="DataShark: a self-hostable AI coding assistant for Roblox Studio.",
        no_args_is_help=True,
        add_completion=False,
    )
    groups = {name: typer.Typer(help=text, no_args_is_help=True) for name, text in GROUPS.items()}
    package = importlib.import_module("datashark.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in ("app", "__main__"):
            continue
        module = importlib.import_module(f"datashark.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app, groups)
    for name, group in groups.items():
        if group.registered_commands or group.registered_groups:
            app.add_typer(group, name=name)
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
