"""Acceptance 3 and 4 (issue 6): the plugin in the real Luau VM (pluau) against the fake Studio,
talking over REAL HTTP to a real `datashark serve` subprocess on loopback whose gateway is
restricted to the templates provider (fast, deterministic).

The fake Studio forwards localhost:8000 to the test server's free port, so the plugin's own
discovery (probe /health on localhost:8000, then 127.0.0.1:8000) is what finds the server.
"""

from __future__ import annotations

import json

import pytest
from serve_process import ServeProcess

API_KEY = "test-key-7f3a"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logs = tmp_path_factory.mktemp("serve")
    proc = ServeProcess(
        {"DATASHARK_PROVIDERS": "templates", "DATASHARK_API_KEY": API_KEY}, logs, "plugin-e2e"
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture()
def studio_on_server(plugin_modules, server):
    from fake_studio_host import FakeStudio

    fake = FakeStudio(plugin_modules, port_map={8000: server.port})
    fake.set_setting("DataSharkApiKey", API_KEY)
    fake.install()
    fake.click_toolbar()
    yield fake
    fake.close()


def test_make_a_door_questions_preview_insert(studio_on_server):
    studio = studio_on_server
    part = studio.new_part("Door")
    studio.select(part)

    studio.type_text("Prompt", "make a door")
    studio.click("Generate")
    assert studio.summary()["errors"] == []
    assert not studio.visible("Message"), studio.text("Message")

    # Questions appear, each with option buttons and a free-text box.
    questions = [n for n in studio.children("Questions") if n.startswith("Question")]
    assert questions, studio.text("Status")
    for q in questions:
        assert studio.exists(f"Questions.{q}.Option1") and studio.exists(f"Questions.{q}.Answer")
        assert studio.text(f"Questions.{q}.Text")
    # Pick an option in every question but the last, type a free-text answer for the last one;
    # once every question has an answer, the request goes again with them.
    picked = {}
    for q in questions[:-1]:
        picked[q] = studio.text(f"Questions.{q}.Option1")
        studio.click(f"Questions.{q}.Option1")
        assert studio.exists(f"Questions.{q}")  # still waiting for the other answers
    studio.type_text(f"Questions.{questions[-1]}.Answer", "Close after 5 seconds", enter=True)
    assert studio.children("Questions") == []

    # One preview per returned script; the status line names provider, model, time, cache.
    assert studio.exists("Previews.Preview1.Insert"), studio.text("Message")
    status = studio.text("Status")
    assert status.startswith("templates | ") and " ms | " in status and status.endswith("fresh")
    preview_source = studio.text("Previews.Preview1.Source")
    title = studio.text("Previews.Preview1.Title")
    assert title.startswith("Script ") and title.endswith("-> Workspace.Door")
    assert len(preview_source) > 50

    # The requests were real HTTP: discovery first, then two POSTs with the Bearer key.
    requests = studio.summary()["requests"]
    assert requests[0]["url"] == "http://localhost:8000/health"
    generate_calls = [r for r in requests if r["url"].endswith("/api/generate")]
    assert len(generate_calls) == 2
    assert all(r["authorization"] == f"Bearer {API_KEY}" for r in generate_calls)
    first, second = (json.loads(r["body"]) for r in generate_calls)
    assert first["prompt"] == "make a door" and "answers" not in first
    assert first["context"]["selection"] == [
        {"path": "Workspace.Door", "className": "Part", "name": "Door"}
    ]
    assert sorted(second["answers"].values()) == sorted([*picked.values(), "Close after 5 seconds"])

    studio.click("Previews.Preview1.Insert")
    door = studio.lookup("Workspace.Door")
    assert door is not None and len(door["children"]) == 1
    script = studio.lookup(f"Workspace.Door.{door['children'][0]}")
    assert script["ClassName"] == "Script"
    assert script["Source"] == preview_source

    summary = studio.summary()
    assert len(summary["recordings"]) == 1
    recording = summary["recordings"][0]
    assert recording["operation"] == "Commit"
    assert recording["changes"] == [f"parent {script['Name']} -> Workspace.Door"]
    assert summary["unrecorded"] == []
    assert summary["opened"] == [f"Workspace.Door.{script['Name']}"]
    assert "Inserted at Workspace.Door." in studio.text("Previews.Preview1.Note")
    assert summary["errors"] == []


def test_the_same_request_again_comes_from_the_cache(studio_on_server):
    studio = studio_on_server
    for attempt in range(2):
        studio.type_text("Prompt", "make a kill brick that kills players who touch it")
        studio.click("Generate")
        for q in [n for n in studio.children("Questions") if n.startswith("Question")]:
            studio.click(f"Questions.{q}.Option1")
        assert studio.exists("Previews.Preview1.Insert"), studio.text("Message")
        status = studio.text("Status")
        assert status.endswith("from cache" if attempt else "fresh"), status
    assert studio.summary()["errors"] == []


def test_discard_inserts_nothing(studio_on_server):
    studio = studio_on_server
    studio.type_text("Prompt", "make a part that kills players when they touch it")
    studio.click("Generate")
    for q in [n for n in studio.children("Questions") if n.startswith("Question")]:
        studio.click(f"Questions.{q}.Option1")
    assert studio.exists("Previews.Preview1.Discard"), studio.text("Message")
    before = studio.lookup("ServerScriptService")["children"]
    studio.click("Previews.Preview1.Discard")
    assert "Discarded." in studio.text("Previews.Preview1.Note")
    assert not studio.exists("Previews.Preview1.Insert")
    summary = studio.summary()
    assert summary["recordings"] == [] and summary["opened"] == []
    assert studio.lookup("ServerScriptService")["children"] == before
    assert summary["errors"] == []


def test_selected_script_source_is_sent_and_the_answer_edits_it(studio_on_server):
    """ "add a cooldown to this" with a script selected: its source goes out as context, and
    the answer for that script replaces its source in place (one recording, via the script
    editor) instead of adding a second script."""
    studio = studio_on_server
    old = "script.Parent.Touched:Connect(function(hit)\n\tprint(hit)\nend)\n"
    studio.new_part("Lava")
    existing = studio.new_script("Script", "KillBrick", old, "Workspace.Lava")
    studio.select(existing)
    studio.type_text("Prompt", "add a cooldown to this kill brick script")
    studio.click("Generate")
    for q in [n for n in studio.children("Questions") if n.startswith("Question")]:
        studio.click(f"Questions.{q}.Option1")
    assert studio.exists("Previews.Preview1.Insert"), studio.text("Message")
    body = json.loads(
        [r for r in studio.summary()["requests"] if r["url"].endswith("/api/generate")][-1]["body"]
    )
    sent = body["context"]["scripts"]
    assert [(s["path"], s["className"], s["source"]) for s in sent] == [
        ("Workspace.Lava.KillBrick", "Script", old)
    ]
    assert studio.text("Previews.Preview1.Title").startswith("Script KillBrick")
    studio.click("Previews.Preview1.Insert")
    summary = studio.summary()
    new_source = studio.lookup("Workspace.Lava.KillBrick")["Source"]
    assert new_source != old and new_source == studio.text("Previews.Preview1.Source")
    assert studio.lookup("Workspace.Lava")["children"] == ["KillBrick"]
    assert summary["editorUpdates"] == ["Workspace.Lava.KillBrick"]
    assert [r["changes"] for r in summary["recordings"]] == [["source Workspace.Lava.KillBrick"]]
    assert summary["errors"] == []


def test_wrong_api_key_gives_the_fix(studio_on_server):
    studio = studio_on_server
    studio.type_text("Settings.ApiKey", "not-the-key")
    studio.click("Settings.SaveSettings")
    studio.type_text("Prompt", "make a kill brick that kills players who touch it")
    studio.click("Generate")
    message = studio.text("Message")
    assert "refused the API key" in message and "HTTP 401" in message
    assert "DATASHARK_API_KEY" in message
    assert studio.summary()["recordings"] == []


def test_backend_error_text_is_shown(studio_on_server):
    studio = studio_on_server
    # A prompt over the server's limit comes back as a 400 with the server's own message.
    studio.type_text("Prompt", "x" * 9000)
    studio.click("Generate")
    message = studio.text("Message")
    assert "The backend answered with an error (HTTP 400)" in message
    assert "prompt" in message


def test_server_whose_model_failed_to_load_is_still_used(plugin_modules, tmp_path):
    """/health says 503 when the server's own model did not load; the plugin still finds the
    server and its gateway answers through the templates provider."""
    from fake_studio_host import FakeStudio

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    proc = ServeProcess({"DATASHARK_PROVIDERS": "templates"}, tmp_path, "broken-model")
    proc.model = broken
    proc.start(healthy_status=503)
    fake = FakeStudio(plugin_modules, port_map={8000: proc.port})
    try:
        fake.install()
        fake.click_toolbar()
        fake.type_text("Prompt", "make a kill brick that kills players who touch it")
        fake.click("Generate")
        for q in [n for n in fake.children("Questions") if n.startswith("Question")]:
            fake.click(f"Questions.{q}.Option1")
        assert fake.exists("Previews.Preview1.Insert"), fake.text("Message")
        assert fake.summary()["requests"][0]["url"] == "http://localhost:8000/health"
    finally:
        fake.close()
        proc.stop()
