"""Every template compiles, passes its behaviour check, and its check fails on a wrong script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import datashark.roblox.templates.library as template_files
from datashark.luau import compile_check
from datashark.roblox.templates import TemplateError, get_template, load_templates

TEMPLATES = load_templates()

IDS = [t.id for t in TEMPLATES]
REQUIRED = {
    "kill_brick", "touch_door", "prompt_door", "leaderstats", "coin_pickup", "checkpoints",
    "teleporter", "day_night_cycle", "sprint", "double_jump", "moving_platform", "prompt_shop",
    "datastore_save", "round_system", "gui_button", "spawn_protection", "lava_damage",
    "healing_pad", "speed_boost_pad", "jump_pad", "respawn_timer", "kill_counter",
    "team_assignment", "admin_commands", "countdown_timer_gui", "click_part",
    "disappearing_platform", "spinning_part", "music_player", "badge_reward",
}  # fmt: skip


def test_library_has_the_required_templates() -> None:
    assert len(TEMPLATES) >= 30
    assert REQUIRED <= set(IDS)
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_metadata_is_complete(template) -> None:
    assert template.title and template.description and len(template.keywords) >= 5
    assert template.class_name in ("Script", "LocalScript", "ModuleScript")
    assert template.parent.split(".")[0] in (
        "Workspace", "ServerScriptService", "StarterPlayer", "StarterGui", "StarterPack",
        "ReplicatedStorage",
    )  # fmt: skip
    assert template.params, "every template has at least one parameter"
    assert len(template.examples) >= 3
    assert template.check.startswith("local PARAMS = {")


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_template_and_check_compile(template) -> None:
    assert compile_check(template.render(), template.name).ok
    assert compile_check(template.check, "check").ok


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_template_passes_its_behaviour_check(template, run_template) -> None:
    result = run_template(template)
    assert result.ok, f"{result.stage}: {result.error}\n{result.log}"


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_check_fails_on_an_empty_script(template, run_template) -> None:
    result = run_template(template, source="-- nothing here\n")
    assert not result.ok, "the check must not pass without the template's behaviour"
    assert result.stage in ("check", "run")


@pytest.mark.parametrize(
    ("template_id", "values"),
    [
        ("kill_brick", {"damage": 30}),
        ("touch_door", {"open_time": 6}),
        ("lava_damage", {"damage_per_tick": 4, "tick_interval": 1}),
        ("speed_boost_pad", {"boost_speed": 60, "duration": 2}),
    ],
)
def test_rendered_parameters_change_behaviour(template_id, values, run_template) -> None:
    template = get_template(template_id)
    source = template.render(values)
    for name, value in values.items():
        assert re.search(rf"= {value!r}\b.*-- @param {name}", source)
    result = run_template(template, source=source, check=template.check_for(values))
    assert result.ok, result.error
    # the default check expects the default values, so it rejects the changed script
    assert not run_template(template, source=source).ok


def test_wrong_behaviour_is_caught() -> None:
    """A door that never closes fails the door check (not just the empty script)."""
    template = get_template("touch_door")
    broken = template.render().replace("task.wait(OPEN_TIME)\n\tsetOpen(false)", "")
    assert broken != template.render()
    from datashark.luau.sandbox import SandboxScript, run_sandbox

    result = run_sandbox(
        [SandboxScript(template.name, template.class_name, template.parent, broken)],
        template.check,
    )
    assert not result.ok and "close again" in (result.error or "")


def test_bad_parameters_are_errors() -> None:
    template = get_template("kill_brick")
    with pytest.raises(TemplateError):
        template.render({"nope": 1})
    with pytest.raises(TemplateError):
        template.render({"damage": "lots"})
    with pytest.raises(TemplateError):
        get_template("touch_door").render({"open_time": True})


def test_load_templates_is_stable() -> None:
    assert [t.id for t in load_templates()] == IDS


STYLUA = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "stylua"


def test_templates_are_stylua_formatted() -> None:
    """Templates are shown to users as-is: they follow StyLua's default Luau style."""
    if not STYLUA.exists():
        pytest.fail(f"StyLua missing at {STYLUA}: run scripts/setup.sh test")
    library = Path(template_files.__file__).parent
    proc = subprocess.run(
        [str(STYLUA), "--syntax", "Luau", "--column-width", "120", "--check", str(library)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_string_parameters_are_escaped() -> None:
    template = get_template("countdown_timer_gui")
    source = template.render({"finished_text": 'He said "go!"\\ \n done'})
    assert compile_check(source).ok
    assert '"He said \\"go!\\"\\\\ \\n done"' in source
