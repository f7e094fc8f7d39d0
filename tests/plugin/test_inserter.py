"""The plugin's Inserter in the fake Studio: where scripts go, editing a selected script through
ScriptEditorService:UpdateSourceAsync, one committed ChangeHistoryService recording per insert,
the script opened in the editor, and refusals (play test, non-script class)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def studio_ready(studio):
    studio.install()
    return studio


def spec(name="Door", class_name="Script", source="print('hi')\n", parent=None) -> dict:
    return {"name": name, "className": class_name, "source": source, "parent": parent}


def test_new_script_goes_under_the_selected_part(studio_ready):
    part = studio_ready.new_part("Door")
    studio_ready.select(part)
    script, reason = studio_ready.insert_script(spec(name="DoorScript", source="local a = 1\n"))
    assert reason is None
    assert script["ClassName"] == "Script" and script["Source"] == "local a = 1\n"
    assert studio_ready.lookup("Workspace.Door.DoorScript") is not None
    summary = studio_ready.summary()
    assert summary["opened"] == ["Workspace.Door.DoorScript"]
    assert len(summary["recordings"]) == 1
    recording = summary["recordings"][0]
    assert recording["operation"] == "Commit"
    assert "parent DoorScript -> Workspace.Door" in recording["changes"]
    assert summary["unrecorded"] == []


@pytest.mark.parametrize(
    ("class_name", "where"),
    [
        ("Script", "ServerScriptService"),
        ("LocalScript", "StarterPlayer.StarterPlayerScripts"),
        ("ModuleScript", "ReplicatedStorage"),
    ],
)
def test_without_selection_scripts_go_to_the_conventional_place(studio_ready, class_name, where):
    _, reason = studio_ready.insert_script(spec(name="Thing", class_name=class_name))
    assert reason is None
    found = studio_ready.lookup(f"{where}.Thing")
    assert found is not None and found["ClassName"] == class_name


def test_selected_script_with_same_name_is_edited_in_place(studio_ready):
    existing = studio_ready.new_script("Script", "KillBrick", "-- old\n", "Workspace")
    studio_ready.select(existing)
    _, reason = studio_ready.insert_script(spec(name="KillBrick", source="-- new with cooldown\n"))
    assert reason is None
    assert studio_ready.lookup("Workspace.KillBrick")["Source"] == "-- new with cooldown\n"
    assert studio_ready.lookup("Workspace")["children"].count("KillBrick") == 1
    summary = studio_ready.summary()
    recording = summary["recordings"][0]
    assert recording["operation"] == "Commit"
    assert recording["changes"] == ["source Workspace.KillBrick"]
    assert summary["editorUpdates"] == ["Workspace.KillBrick"]  # through ScriptEditorService


def test_refuses_while_a_play_test_runs(studio_ready):
    studio_ready.set_flag("running", True)
    script, reason = studio_ready.insert_script(spec())
    assert script is None and reason == "running"
    assert studio_ready.summary()["recordings"] == []
    assert studio_ready.lookup("ServerScriptService.Door") is None


def test_refuses_a_class_that_is_not_a_script(studio_ready):
    script, reason = studio_ready.insert_script(spec(class_name="Part"))
    assert script is None and "not a script class" in reason
    assert studio_ready.summary()["recordings"] == []
