"""Where Roblox Studio looks for local plugins, and copying the built plugin there.

Windows: `%LOCALAPPDATA%\\Roblox\\Plugins`; macOS: `~/Documents/Roblox/Plugins`. Studio does not
run on Linux, so there the path is None and the caller says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def plugins_dir(platform: str | None = None, env: dict[str, str] | None = None) -> Path | None:
    """Studio's local plugins folder on this platform, or None where Studio does not run."""
    platform = platform or sys.platform
    env = dict(os.environ) if env is None else env
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "Roblox" / "Plugins"
    if platform == "darwin":
        return Path(env.get("HOME") or str(Path.home())) / "Documents" / "Roblox" / "Plugins"
    return None


def install_plugin(built: Path, target_dir: Path) -> Path:
    """Copy the built .rbxmx into `target_dir` (created if missing); returns the new file."""
    if not built.is_file():
        raise FileNotFoundError(f"built plugin not found: {built} (run `datashark plugin build`)")
    target_dir.mkdir(parents=True, exist_ok=True)
    dest = target_dir / built.name
    shutil.copyfile(built, dest)
    return dest
