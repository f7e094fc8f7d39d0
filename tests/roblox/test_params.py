"""Template parameters stated in the request render the templates' answers and bind the
behaviour check that judges every provider's answer."""

from __future__ import annotations

from datashark.roblox.params import infer_params
from datashark.roblox.templates import get_template, load_templates


def sprint():
    return next(
        t for t in load_templates() if {p.name for p in t.params} >= {"sprint_speed", "walk_speed"}
    )


def test_numbers_next_to_parameter_names() -> None:
    kill = get_template("kill_brick")
    assert infer_params(kill, "make a part that kills players when they touch it") == {}
    assert infer_params(kill, "a kill brick that does 25 damage") == {"damage": 25}
    assert infer_params(kill, "lava with damage of 30") == {"damage": 30}
    assert infer_params(kill, "deals 40 damage per touch, every 2 seconds") == {"damage": 40}
    assert infer_params(kill, "damage: 2.5") == {"damage": 2.5}
    assert infer_params(sprint(), "sprint speed 30, walk speed 14") == {
        "sprint_speed": 30,
        "walk_speed": 14,
    }


def test_ambiguous_numbers_keep_the_default() -> None:
    assert infer_params(get_template("kill_brick"), "damage 10 or 20 damage") == {}


def test_the_templates_answer_uses_the_stated_value(live, standins) -> None:
    # The stand-in answers with an instant-kill script; the request asks for 25 damage, so the
    # kill brick's check (bound to 25) rejects it and the templates provider renders damage = 25.
    app = live(["primary", "templates"], standins)
    body = app.post({"prompt": "a kill brick that does 25 damage", "clarify": False}).json()
    assert body["status"] == "ok" and body["provider"] == "templates"
    assert [a["outcome"] for a in body["attempts"]] == ["sandbox", "ok"]
    (script,) = body["scripts"]
    assert any("25" in line and "@param damage" in line for line in script["source"].splitlines())
    assert body["validation"]["behaviour"] == "passed" and "damage = 25" in body["explanation"]
