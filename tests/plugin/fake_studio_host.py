"""Python side of the fake Roblox Studio: runs the plugin in the real Luau VM (pluau).

`FakeStudio` loads fake_datatypes.luau, fake_instances.luau, fake_studio.luau and driver.luau into
one pluau VM, gives
them a `host` table whose `http` does REAL HTTP requests with httpx (so the plugin talks to a real
`datashark serve` on loopback), JSON in Python, and `load` to compile plugin chunks with their
own `script` global. Every method here is one user action or one look at the state.

Not handled: time (task.wait resumes on the next flush) and several plugins at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from datashark.luau.pluau_loader import load_pluau
from datashark.plugin.build import PluginModule

HERE = Path(__file__).parent


def _to_py(value: Any, depth: int = 0) -> Any:
    """A Lua value as plain Python: arrays (keys 1..n, or empty) become lists."""
    pluau = load_pluau()
    if depth > 50:
        raise ValueError("table nested too deeply")
    if isinstance(value, pluau.String):
        return value.as_bytes().decode("utf-8", errors="replace")
    if isinstance(value, pluau.Table):
        items = [(_to_py(k, depth + 1), _to_py(v, depth + 1)) for k, v in value]
        keys = [k for k, _ in items]
        if all(isinstance(k, int) and not isinstance(k, bool) for k in keys) and sorted(
            keys
        ) == list(range(1, len(keys) + 1)):
            return [v for _, v in sorted(items, key=lambda kv: kv[0])]
        return {str(k): v for k, v in items}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _to_lua(lua: Any, value: Any) -> Any:
    """Plain Python as a Lua value: dicts and lists become tables (lists 1-based), None is nil."""
    if isinstance(value, dict):
        table = lua.create_table()
        for k, v in value.items():
            if v is not None:
                table.set(k, _to_lua(lua, v))
        return table
    if isinstance(value, list | tuple):
        table = lua.create_table()
        for v in value:
            table.push(_to_lua(lua, v))
        return table
    return value


class FakeStudio:
    """A fake Studio with the DataShark plugin installed and its widget driven like a user."""

    def __init__(
        self,
        modules: list[PluginModule],
        port_map: dict[int, int] | None = None,
        http_timeout_s: float = 60.0,
    ) -> None:
        """`port_map` forwards loopback ports (8000 -> the test server's port), so the plugin's
        discovery of http://localhost:8000 reaches the server a test started on a free port."""
        self.port_map = dict(port_map or {})
        pluau = load_pluau()
        self.lua = pluau.Lua()
        self._http_client = httpx.Client(timeout=http_timeout_s, trust_env=False)
        lua = self.lua
        host = lua.create_table()
        host.set("http", lua.create_function(self._http))
        host.set("jsonEncode", lua.create_function(self._json_encode))
        host.set("jsonDecode", lua.create_function(self._json_decode))
        host.set("load", lua.create_function(self._load))
        types = self._chunk("fake_datatypes.luau")()[0]
        load_instances = self._chunk("fake_instances.luau")()[0]
        self.studio = self._chunk("fake_studio.luau")()[0](types, host, load_instances)[0]
        self.driver = self._chunk("driver.luau")()[0](self.studio)[0]
        self.modules = modules

    def _chunk(self, name: str) -> Any:
        return self.lua.load_chunk((HERE / name).read_text(encoding="utf-8"), name=f"={name}")

    # host callbacks (called from Luau) -----------------------------------------------------------

    def _http(self, _lua: Any, args: tuple) -> list:
        method, url, headers, body = (list(args) + [None] * 4)[:4]
        headers = {str(k): str(v) for k, v in (_to_py(headers) or {}).items()}
        content = _to_py(body) if body is not None else None
        target = httpx.URL(str(_to_py(url)))
        if target.host in ("localhost", "127.0.0.1") and target.port in self.port_map:
            target = target.copy_with(host="127.0.0.1", port=self.port_map[target.port])
        try:
            response = self._http_client.request(
                str(_to_py(method)), target, headers=headers, content=content
            )
        except httpx.ConnectError:
            return [False, "HttpError: ConnectFail"]
        except httpx.TimeoutException:
            return [False, "HttpError: Timedout"]
        return [True, response.status_code, response.reason_phrase, response.text]

    def _json_encode(self, _lua: Any, args: tuple) -> list:
        return [json.dumps(_to_py(args[0]))]

    def _json_decode(self, lua: Any, args: tuple) -> list:
        try:
            data = json.loads(_to_py(args[0]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"Can't parse JSON: {exc}") from exc
        return [_to_lua(lua, data)]

    def _load(self, lua: Any, args: tuple) -> list:
        source, name, env = args
        return [lua.load_chunk(_to_py(source), name=f"={_to_py(name)}", env=env)]

    # user actions ------------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        result = self.driver.get(name)(*args)
        return _to_py(result[0]) if result else None

    def install(self) -> None:
        modules = [
            {"name": m.name, "className": m.class_name, "source": m.source} for m in self.modules
        ]
        self._call("install", _to_lua(self.lua, modules))

    def set_flag(self, name: str, value: Any) -> None:
        self.studio.set(name, value)

    def set_setting(self, key: str, value: Any) -> None:
        self.studio.get("settings").set(key, json.dumps(value))

    def click_toolbar(self, button_id: str = "DataSharkOpen") -> None:
        self._call("clickToolbar", button_id)

    def type_text(self, path: str, text: str, enter: bool = False) -> None:
        self._call("typeText", path, text, enter)

    def click(self, path: str) -> None:
        self._call("click", path)

    def text(self, path: str) -> str:
        return self._call("text", path)

    def visible(self, path: str) -> bool:
        return self._call("visible", path)

    def exists(self, path: str) -> bool:
        return self._call("exists", path)

    def children(self, path: str) -> list[str]:
        return self._call("children", path) or []

    def new_part(self, name: str) -> Any:
        return self.driver.get("newPart")(name)[0]

    def new_script(self, class_name: str, name: str, source: str, parent_path: str) -> Any:
        return self.driver.get("newScript")(class_name, name, source, parent_path)[0]

    def select(self, *instances: Any) -> None:
        table = self.lua.create_table()
        for inst in instances:
            table.push(inst)
        self.driver.get("select")(table)

    def lookup(self, path: str) -> dict | None:
        """The instance at a DataModel path as {ClassName, Name, Source, path}, or None."""
        inst = self.driver.get("lookup")(path)[0]
        if inst is None:
            return None
        return {
            "ClassName": _to_py(inst.get("ClassName")),
            "Name": _to_py(inst.get("Name")),
            "Source": _to_py(inst.get("Source")),
            "children": [_to_py(c.get("Name")) for _, c in inst.get("GetChildren")(inst)[0]],
        }

    def insert_script(self, spec: dict) -> tuple[dict | None, str | None]:
        """Calls the plugin's Inserter.apply(plugin, spec) directly; returns (script, reason)."""
        inserter = self.driver.get("requireModule")("Inserter")[0]
        result = inserter.get("apply")(self.studio.get("plugin"), _to_lua(self.lua, spec))
        inst, reason = (list(result) + [None, None])[:2]
        if inst is None:
            return None, _to_py(reason)
        full = inst.get("GetFullName")(inst)[0]
        return self.lookup(_to_py(full)), None

    def summary(self) -> dict:
        return self._call("summary")

    def close(self) -> None:
        self._http_client.close()
