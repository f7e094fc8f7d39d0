"""Fixtures for the gateway tests: loopback OpenAI-protocol upstreams with injectable faults
(real uvicorn servers on free 127.0.0.1 ports) and small helpers to build a gateway over them.

No network beyond loopback; no API keys; nothing outlives its test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datashark.gateway.loopback import LoopbackUpstream

GOOD_LUAU = """Here is the script.
```lua
-- KillBrick (Script) in Workspace.KillBrick
local part = script.Parent
part.Touched:Connect(function(hit)
\tlocal humanoid = hit.Parent and hit.Parent:FindFirstChildOfClass("Humanoid")
\tif humanoid then
\t\thumanoid.Health = 0
\tend
end)
```
It kills any character that touches the part."""


@pytest.fixture
def upstream() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream(reply=GOOD_LUAU, model="primary-model") as up:
        yield up


@pytest.fixture
def backup() -> Iterator[LoopbackUpstream]:
    with LoopbackUpstream(reply=GOOD_LUAU, model="backup-model") as up:
        yield up
