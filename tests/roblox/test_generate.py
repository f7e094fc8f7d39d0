"""Acceptance 3 and 4 through the real app, with no API keys: the default provider chain
(local engine if its model is in the cache, hosted providers not configured, templates).

3. "make a part that kills players when they touch it", clarify off -> a Script that compiles and
   whose sandbox run kills a touching character's Humanoid (checked here with our own check, not
   the template's), answered by local or templates, every attempt listed.
4. "make a door" -> status clarify with questions and options -> the answers -> scripts.
"""

from __future__ import annotations

import json

from datashark.luau import compile_check
from datashark.luau.sandbox import SandboxScript, run_sandbox

KILL_PROMPT = "make a part that kills players when they touch it"

# Our own behaviour check: a character touching the script's part loses all its health.
KILL_CHECK = """
local part = findScriptPart("KillBrick")
assert(part ~= nil, "no part holds the script")
local player, character = spawnPlayer("Tester")
local humanoid = humanoidOf(character)
assert(humanoid.Health > 0, "starts alive")
touch(part, character)
advance(1)
assert(humanoid.Health <= 0, "the touching character's Humanoid should be dead, health " .. tostring(humanoid.Health))
return true
"""


def sandbox(scripts: list[dict], check: str):
    boxed = [SandboxScript(s["name"], s["className"], s["parent"], s["source"]) for s in scripts]
    return run_sandbox(boxed, check=check, timeout_s=5.0)


def test_kill_brick_offline_compiles_and_kills(live) -> None:
    app = live()  # default chain from the (cleared) environment
    response = app.post({"prompt": KILL_PROMPT, "clarify": False}, timeout=300)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["provider"] in ("local", "templates")
    outcomes = {a["provider"]: a["outcome"] for a in body["attempts"]}
    assert list(outcomes) == ["local", "deepseek", "openai", "ollama", "templates"][: len(outcomes)]
    assert outcomes["deepseek"] == outcomes["openai"] == outcomes["ollama"] == "not_configured"
    assert outcomes[body["provider"]] == "ok"
    scripts = body["scripts"]
    assert [s["className"] for s in scripts].count("Script") >= 1
    for s in scripts:
        assert compile_check(s["source"]).ok
    result = sandbox(scripts, KILL_CHECK)
    assert result.ok, (result.stage, result.error, result.log)
    assert body["validation"]["compile"] == "passed" and body["validation"]["sandbox"] == "passed"
    assert (
        body["validation"]["behaviour"] == "passed" and body["validation"]["check"] == "kill_brick"
    )
    assert body["request_id"] and body["elapsed_ms"] > 0 and body["cached"] is False


def test_door_asks_then_builds_from_the_answers(live) -> None:
    app = live()
    first = app.post({"prompt": "make a door"})
    assert first.status_code == 200
    ask = first.json()
    assert ask["status"] == "clarify" and ask["source"] == "rules"
    assert 1 <= len(ask["questions"]) <= 3
    for q in ask["questions"]:
        assert q["id"] and q["text"].endswith("?") and len(q["options"]) >= 2
    trigger = next(q for q in ask["questions"] if q["id"] == "door_trigger")
    prompt_option = next(o for o in trigger["options"] if "ProximityPrompt" in o)
    answers = {q["id"]: q["options"][0] for q in ask["questions"]} | {"door_trigger": prompt_option}

    second = app.post({"prompt": "make a door", "answers": answers, "providers": ["templates"]})
    assert second.status_code == 200, second.text
    done = second.json()
    assert done["status"] == "ok" and done["provider"] == "templates"
    (script,) = done["scripts"]
    assert script["className"] == "Script" and "ProximityPrompt" in script["source"]
    assert (
        done["validation"]["behaviour"] == "passed" and done["validation"]["check"] == "prompt_door"
    )


def test_llm_proposes_questions_and_receives_the_answers(live, standins) -> None:
    questions = {
        "questions": [
            {"id": "open_how", "text": "How should it open?", "options": ["Slide", "Swing"]},
        ]
    }
    primary = standins["primary"]
    primary.reply = "```json\n" + json.dumps(questions) + "\n```"
    app = live(["primary", "templates"], standins)
    ask = app.post({"prompt": "make a door"}).json()
    assert ask["status"] == "clarify" and ask["source"] == "primary"
    assert ask["questions"] == questions["questions"]
    assert "JSON" in primary.seen[0].body["messages"][0]["content"]

    # The stand-in now answers with a kill brick: the door template's behaviour check rejects
    # it, so the templates provider answers with a door.
    primary.reply = standins["backup"].reply
    done = app.post({"prompt": "make a door", "answers": {"open_how": "Slide"}}).json()
    assert "open how: Slide" in primary.seen[1].body["messages"][1]["content"]
    assert done["status"] == "ok" and done["provider"] == "templates"
    assert [a["outcome"] for a in done["attempts"]] == ["sandbox", "ok"]


def test_clear_request_with_clarify_on_goes_straight_to_code(live, standins) -> None:
    standins["primary"].reply = '{"questions": []}'
    standins["backup"].reply = standins["backup"].reply  # kill brick code
    app = live(["primary", "backup"], standins)
    body = app.post({"prompt": KILL_PROMPT}).json()
    # primary said "no questions", then its JSON reply has no code: backup writes the script
    assert body["status"] == "ok" and body["provider"] == "backup"
    assert [a["outcome"] for a in body["attempts"]] == ["no_code", "ok"]


def test_editing_a_selected_script_returns_its_new_version(live, standins) -> None:
    old = 'script.Parent.Touched:Connect(function(hit)\n\tprint("touched")\nend)\n'
    new = (
        "```lua\nlocal part = script.Parent\nlocal debounce = false\n"
        "part.Touched:Connect(function(hit)\n\tif debounce then return end\n\tdebounce = true\n"
        '\tprint("touched")\n\ttask.wait(2)\n\tdebounce = false\nend)\n```\nAdded a 2 second cooldown.'
    )
    standins["primary"].reply = new
    app = live(["primary", "templates"], standins)
    context = {
        "selection": [
            {"path": "Workspace.Pad.TouchScript", "className": "Script", "name": "TouchScript"}
        ],
        "scripts": [
            {
                "path": "Workspace.Pad.TouchScript",
                "className": "Script",
                "name": "TouchScript",
                "source": old,
            }
        ],
    }
    body = app.post(
        {"prompt": "add a cooldown to this", "context": context, "clarify": False}
    ).json()
    assert body["status"] == "ok" and body["provider"] == "primary"
    (script,) = body["scripts"]
    assert (script["name"], script["className"], script["parent"]) == (
        "TouchScript",
        "Script",
        "Workspace.Pad",
    )
    assert "debounce" in script["source"]
    sent = standins["primary"].seen[0].body["messages"][1]["content"]
    assert old.strip() in sent and "Change this existing Script Workspace.Pad.TouchScript" in sent
    assert [a["provider"] for a in body["attempts"]] == ["primary"]  # templates cannot edit


def test_templates_say_plainly_when_they_cannot_help(live) -> None:
    app = live()
    response = app.post(
        {
            "prompt": "a sorting algorithm for a bank database",
            "clarify": False,
            "providers": ["templates"],
        }
    )
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["message"].startswith("DataShark cannot do this offline")
    assert body["attempts"][0]["outcome"] == "no_match"


def test_metrics_json_lists_every_provider(live) -> None:
    app = live()
    app.post({"prompt": KILL_PROMPT, "clarify": False, "providers": ["templates"]})
    metrics = app.get("/api/metrics").json()
    assert metrics["order"] == ["local", "deepseek", "openai", "ollama", "templates"]
    templates = metrics["providers"]["templates"]
    for key in (
        "calls",
        "successes",
        "failures",
        "failures_by_reason",
        "fallbacks",
        "avg_ms",
        "p95_ms",
    ):
        assert key in templates
    assert (
        templates["calls"] == 1 and templates["successes"] == 1 and templates["state"] == "closed"
    )
    assert metrics["providers"]["deepseek"]["state"] == "not_configured"
    assert metrics["providers"]["deepseek"]["why"] == "no API key"
