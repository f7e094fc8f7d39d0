"""`datashark plugin build` and `datashark plugin install`: the Roblox Studio plugin file."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_OUT = Path("DataShark.rbxmx")


def plugin_build(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Where to write the plugin model file."),
    src: Path | None = typer.Option(
        None, "--src", help="Plugin source folder (default: plugin/ in the repository)."
    ),
) -> None:
    """Build the Studio plugin into one .rbxmx file (a Script with its ModuleScripts)."""
    from datashark.plugin.build import write_plugin

    try:
        modules = write_plugin(out, src)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    names = ", ".join(m.name for m in modules)
    typer.echo(f"wrote {out} ({len(modules)} scripts: {names})")


def plugin_install(
    dir: Path | None = typer.Option(
        None, "--dir", help="Plugins folder to copy into (default: Studio's, found per OS)."
    ),
    src: Path | None = typer.Option(None, "--src", help="Plugin source folder."),
) -> None:
    """Build the plugin and copy it into Roblox Studio's local plugins folder."""
    from datashark.plugin.build import write_plugin
    from datashark.plugin.install import install_plugin, plugins_dir

    target = dir or plugins_dir()
    if target is None:
        write_plugin(DEFAULT_OUT, src)
        typer.echo(
            f"Roblox Studio runs on Windows and macOS only, so there is no plugins folder here.\n"
            f"Built {DEFAULT_OUT.resolve()}: copy it into Studio's plugins folder "
            "(Windows: %LOCALAPPDATA%\\Roblox\\Plugins, macOS: ~/Documents/Roblox/Plugins), "
            "or use --dir."
        )
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / DEFAULT_OUT.name
        try:
            write_plugin(built, src)
        except (FileNotFoundError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        dest = install_plugin(built, target)
    typer.echo(f"installed {dest}\nRestart Studio (or reload plugins) to see the DataShark button.")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["plugin"].command("build")(plugin_build)
    groups["plugin"].command("install")(plugin_install)
