"""Parsing model replies into scripts: headers, Rojo names, class inference, parents, edits."""

from __future__ import annotations

from datashark.roblox.extract import Target, extract_scripts, infer_class, name_from_task


def test_header_gives_name_class_and_parent() -> None:
    text = "Sure!\n```lua\n-- Lava (Script) in Workspace.LavaFloor\nprint('hot')\n```\nDone."
    out = extract_scripts(text, "lava", Target())
    (script,) = out.scripts
    assert (script.name, script.class_name, script.parent) == (
        "Lava",
        "Script",
        "Workspace.LavaFloor",
    )
    assert script.source.startswith("-- Lava (Script)")
    assert out.explanation == "Sure! Done."


def test_rojo_file_names_give_the_class() -> None:
    text = (
        "**Sprint.client.lua**\n```lua\nprint(1)\n```\n"
        "`Config.lua`\n```luau\nreturn {speed = 2}\n```\n"
        "Coins.server.luau\n```\nprint(2)\n```"
    )
    scripts = extract_scripts(text, "x", Target()).scripts
    assert [(s.name, s.class_name, s.parent) for s in scripts] == [
        ("Sprint", "LocalScript", "StarterPlayer.StarterPlayerScripts"),
        ("Config", "ModuleScript", "ReplicatedStorage"),
        ("Coins", "Script", "ServerScriptService"),
    ]


def test_class_is_inferred_from_the_code() -> None:
    assert infer_class("local p = game.Players.LocalPlayer\nprint(p)") == "LocalScript"
    assert infer_class('local UIS = game:GetService("UserInputService")') == "LocalScript"
    assert infer_class("local M = {}\nfunction M.f() end\nreturn M\n") == "ModuleScript"
    assert infer_class("script.Parent.Touched:Connect(print)") == "Script"


def test_unheaded_block_gets_a_name_from_the_task_and_the_selected_parent() -> None:
    text = "```lua\nscript.Parent.Touched:Connect(function() end)\n```"
    (script,) = extract_scripts(
        text, "make a spinning coin", Target(parent="Workspace.Coin")
    ).scripts
    assert (script.name, script.class_name, script.parent) == (
        "SpinningCoin",
        "Script",
        "Workspace.Coin",
    )
    assert name_from_task("please make it") == "GeneratedScript"


def test_non_lua_blocks_and_empty_blocks_are_ignored() -> None:
    text = "```python\nprint(1)\n```\n```lua\n\n```\nno code"
    assert extract_scripts(text, "x", Target()).scripts == ()


def test_unterminated_block_still_counts() -> None:
    (script,) = extract_scripts("```lua\nprint('cut off')", "x", Target()).scripts
    assert "cut off" in script.source


def test_edit_keeps_the_edited_scripts_identity() -> None:
    target = Target(edit_name="DoorScript", edit_class="Script", edit_parent="Workspace.Door")
    text = "```lua\n-- Something (LocalScript) in StarterGui\nprint('new version')\n```"
    (script,) = extract_scripts(text, "add a cooldown", target).scripts
    assert (script.name, script.class_name, script.parent) == (
        "DoorScript",
        "Script",
        "Workspace.Door",
    )


def test_duplicate_names_are_made_unique() -> None:
    text = "```lua\n-- A (Script)\nprint(1)\n```\n```lua\n-- A (Script)\nprint(2)\n```"
    assert [s.name for s in extract_scripts(text, "x", Target()).scripts] == ["A", "A2"]
