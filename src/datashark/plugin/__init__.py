"""The Roblox Studio plugin's build side: collect the Luau modules in `plugin/`, write the
`.rbxmx` model file Studio loads, and copy it into Studio's plugins folder.

The plugin itself is Luau under `plugin/` at the repository root (outside this package).
"""

from datashark.plugin.build import PluginModule, build_rbxmx, collect_modules, default_source_dir
from datashark.plugin.install import install_plugin, plugins_dir

__all__ = [
    "PluginModule",
    "build_rbxmx",
    "collect_modules",
    "default_source_dir",
    "install_plugin",
    "plugins_dir",
]
