"""The plugin in the fake Studio without a backend: toolbar and widget, backend discovery and the
friendly failure messages (acceptance 4, backend down), HTTP not allowed, play-test mode and
settings. The HTTP requests are real: they go to loopback ports where nothing listens."""

from __future__ import annotations

import socket

import pytest


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def offline(plugin_modules):
    from fake_studio_host import FakeStudio

    # Discovery probes localhost:8000; forward it to a closed port so no other server answers.
    fake = FakeStudio(plugin_modules, port_map={8000: closed_port()})
    fake.install()
    yield fake
    fake.close()


def test_toolbar_button_toggles_the_dock_widget(offline):
    summary = offline.summary()
    assert summary["buttons"] == {"DataSharkOpen": False} and not summary["widgetEnabled"]
    offline.click_toolbar()
    summary = offline.summary()
    assert summary["widgetEnabled"] and summary["buttons"]["DataSharkOpen"] is True
    for path in ("Prompt", "Generate", "Status", "Questions", "Previews", "Settings.ApiKey"):
        assert offline.exists(path), path
    offline.click_toolbar()
    assert not offline.summary()["widgetEnabled"]
    assert offline.summary()["errors"] == []


def test_backend_down_says_how_to_start_it(offline):
    offline.click_toolbar()
    offline.type_text("Prompt", "make a door")
    offline.click("Generate")
    message = offline.text("Message")
    assert offline.visible("Message")
    assert "not running" in message and "datashark serve" in message
    assert "http://localhost:8000" in message and "http://127.0.0.1:8000" in message
    urls = [r["url"] for r in offline.summary()["requests"]]
    assert urls == ["http://localhost:8000/health", "http://127.0.0.1:8000/health"]
    assert offline.summary()["errors"] == []


def test_saved_url_is_used_and_named_when_down(offline):
    port = closed_port()
    offline.click_toolbar()
    offline.type_text("Settings.BackendUrl", f"http://127.0.0.1:{port}/")
    offline.type_text("Settings.ApiKey", "sekrit")
    offline.click("Settings.SaveSettings")
    assert offline.summary()["settings"]["DataSharkBackendUrl"] == f'"http://127.0.0.1:{port}/"'
    offline.type_text("Prompt", "make a door")
    offline.click("Generate")
    requests = offline.summary()["requests"]
    assert [r["url"] for r in requests] == [f"http://127.0.0.1:{port}/api/generate"]
    assert requests[0]["authorization"] == "Bearer sekrit"
    assert f"http://127.0.0.1:{port}" in offline.text("Message")
    assert "datashark serve" in offline.text("Message")


def test_http_not_allowed_says_how_to_allow_it(offline):
    offline.set_flag("httpAllowed", False)
    offline.click_toolbar()
    offline.type_text("Prompt", "make a door")
    offline.click("Generate")
    message = offline.text("Message")
    assert "did not allow" in message and "Allow HTTP Requests" in message
    assert offline.summary()["requests"] == []


def test_nothing_is_sent_while_a_play_test_runs(offline):
    offline.click_toolbar()
    offline.set_flag("running", True)
    offline.type_text("Prompt", "make a door")
    offline.click("Generate")
    assert "play test is running" in offline.text("Message")
    assert offline.summary()["requests"] == []


def test_empty_prompt_asks_for_one(offline):
    offline.click_toolbar()
    offline.click("Generate")
    assert "Type what you want first" in offline.text("Message")
    assert offline.summary()["requests"] == []


def test_settings_are_read_back_on_the_next_start(plugin_modules):
    from fake_studio_host import FakeStudio

    fake = FakeStudio(plugin_modules)
    fake.set_setting("DataSharkBackendUrl", "http://10.1.2.3:9000")
    fake.set_setting("DataSharkApiKey", "k1")
    fake.install()
    assert fake.text("Settings.BackendUrl") == "http://10.1.2.3:9000"
    assert fake.text("Settings.ApiKey") == "k1"
    fake.close()


def test_plugin_creates_nothing_when_started_in_a_play_test(plugin_modules):
    from fake_studio_host import FakeStudio

    fake = FakeStudio(plugin_modules)
    fake.set_flag("running", True)
    fake.install()
    assert not fake.summary()["buttons"]
    assert not fake.exists("Prompt")
    fake.close()
