"""Acceptance 5 (the server's part): a provider that answers with hostile Luau (an infinite loop,
a memory bomb, reaching for os/io/require) is rejected by the sandbox like any failing answer,
the next provider answers, and the server keeps serving."""

from __future__ import annotations

import pytest

HOSTILE = {
    "infinite_loop": "local part = script.Parent\nwhile true do end\n",
    "memory_bomb": "local t = {}\nwhile true do\n\ttable.insert(t, string.rep('x', 1e6))\nend\n",
    "os_execute": "os.execute('echo pwned')\n",
    "io_open": "local f = io.open('/etc/passwd')\nprint(f:read('*a'))\n",
    "require_asset": "local m = require(123456)\nm.run()\n",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_answer_is_rejected_and_the_server_keeps_serving(live, standins, kind) -> None:
    primary = standins["primary"]
    primary.reply = f"```lua\n-- Evil (Script) in Workspace.KillBrick\n{HOSTILE[kind]}```"
    app = live(["primary", "backup"], standins, DATASHARK_CACHE_TTL_S="0")
    prompt = "make a part that kills players when they touch it"
    response = app.post({"prompt": prompt, "clarify": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "backup"
    assert body["attempts"][0]["outcome"] == "sandbox", body["attempts"][0]
    assert app.get("/health").status_code in (200, 503)  # the process is alive (model may load)
    again = app.post({"prompt": prompt + " please", "clarify": False, "providers": ["backup"]})
    assert again.status_code == 200 and again.json()["status"] == "ok"
