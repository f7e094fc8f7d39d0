"""The sandbox contains hostile or broken scripts and the calling process keeps working."""

from __future__ import annotations

import pytest

from datashark.luau.sandbox import SandboxScript, run_sandbox

OK_SCRIPT = 'print("still fine")'


def assert_parent_still_works(sandbox) -> None:
    result = sandbox(OK_SCRIPT)
    assert result.ok and result.log == ("still fine",)


def test_infinite_loop_times_out(sandbox) -> None:
    result = sandbox("local n = 0\nwhile true do n += 1 end", timeout_s=1.0)
    assert not result.ok and result.stage == "timeout"
    assert_parent_still_works(sandbox)


def test_infinite_loop_inside_pcall_still_times_out(sandbox) -> None:
    source = "while true do pcall(function() while true do end end) end"
    result = sandbox(source, timeout_s=1.0)
    assert not result.ok and result.stage == "timeout"


def test_check_that_loops_forever_times_out(sandbox) -> None:
    result = sandbox(OK_SCRIPT, "while true do end", timeout_s=1.0)
    assert result.stage == "timeout"


@pytest.mark.parametrize(
    "source",
    [
        "local t = {}\nwhile true do table.insert(t, string.rep('x', 100000) .. #t) end",
        "local s = string.rep('x', 2^30)",
        "local t = {}\nfor i = 1, 1e9 do t[i] = {i} end",
    ],
)
def test_memory_bomb_hits_the_memory_limit(sandbox, source: str) -> None:
    result = sandbox(source, memory_mb=32)
    assert not result.ok and result.stage == "memory", result
    assert_parent_still_works(sandbox)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ('io.open("/etc/passwd")', "io.open is not available"),
        ('os.execute("ls")', "os.execute is not available"),
        ('os.remove("x")', "os.remove is not available"),
        ('require("os")', "require is limited to ModuleScript"),
        ("require(12345)", "require is limited to ModuleScript"),
        ('loadstring("return 1")()', "loadstring is not available"),
        ('load("return 1")()', "load is not available"),
        ("getfenv(1).x = 1", "getfenv is not available"),
        ("setfenv(1, {})", "setfenv is not available"),
        ('game:GetService("HttpService"):GetAsync("http://127.0.0.1/")', "no network"),
        ('collectgarbage("collect")', "collectgarbage only supports"),
    ],
)
def test_escape_attempts_are_errors(sandbox, source: str, needle: str) -> None:
    result = sandbox(source)
    assert not result.ok and result.stage == "run"
    assert needle in (result.error or ""), result.error
    assert result.line == 1


def test_os_time_and_clock_are_allowed_and_virtual(sandbox) -> None:
    source = (
        "local a, t = os.clock(), os.time()\ntask.wait(3600)\nprint(os.clock() - a, os.time() - t)"
    )
    result = sandbox(source, "advance(3600) return true")
    assert result.ok, result
    assert result.log == ("3600 3600",)


def test_runtime_error_reports_script_path_and_line(sandbox) -> None:
    source = "local a = 1\nlocal b = nil\nprint(b.field)"
    result = sandbox(source, parent="Workspace.Door", name="DoorScript")
    assert not result.ok and result.stage == "run"
    assert result.script == "Workspace.Door.DoorScript"
    assert result.line == 3
    assert "attempt to index nil with 'field'" in (result.error or "")


def test_error_in_event_handler_fails_the_run(sandbox) -> None:
    source = "script.Parent.Touched:Connect(function(hit)\n\terror('boom')\nend)"
    check = "local _, c = spawnPlayer('A')\ntouch(script_part, c)\nreturn true".replace(
        "script_part", "findScriptPart('Main')"
    )
    result = sandbox(source, check, parent="Workspace.Pad")
    assert not result.ok and result.stage == "run" and result.line == 2


def test_compile_error_is_stage_compile(sandbox) -> None:
    result = sandbox("local x = = 1")
    assert result.stage == "compile" and result.line == 1


def test_failing_check_is_stage_check_with_message(sandbox) -> None:
    result = sandbox(OK_SCRIPT, "assert(1 == 2, 'numbers differ')")
    assert result.stage == "check" and "numbers differ" in (result.error or "")
    result = sandbox(OK_SCRIPT, "return false, 'nope'")
    assert result.stage == "check" and result.error == "nope"


def test_check_waiting_forever_is_reported(sandbox) -> None:
    result = sandbox(OK_SCRIPT, "workspace:WaitForChild('Never')\nreturn true")
    assert result.stage == "check" and "never happens" in (result.error or "")


def test_unknown_parent_service_is_a_clear_error() -> None:
    result = run_sandbox([SandboxScript("A", "Script", "Narnia.Wardrobe", OK_SCRIPT)])
    assert not result.ok and result.stage == "run"
    assert result.error == "script parent path 'Narnia.Wardrobe': Narnia is not a Roblox service"


def test_invalid_requests_are_rejected_without_a_process() -> None:
    with pytest.raises(ValueError):
        run_sandbox([], timeout_s=0)
    with pytest.raises(ValueError):
        run_sandbox([], memory_mb=1)
    result = run_sandbox([SandboxScript("X", "Plugin", "Workspace", "")])
    assert not result.ok and "class_name" in (result.error or "")
    result = run_sandbox([SandboxScript("a.b", "Script", "Workspace", "")])
    assert not result.ok and "name" in (result.error or "")


def test_sandbox_has_no_file_or_environment_access(sandbox) -> None:
    source = (
        "print(typeof(debug.getinfo), typeof(package), typeof(dofile))\nprint(os.getenv('HOME'))"
    )
    result = sandbox(source)
    assert result.log[0] == "nil nil function"  # dofile exists only to raise a clear error
    assert not result.ok and "os.getenv is not available" in (result.error or "")


def test_pathological_pattern_search_times_out(sandbox) -> None:
    source = 'local s = string.rep("a", 3000)\nprint(string.find(s, ".-.-.-.-.-b"))'
    result = sandbox(source, timeout_s=0.2)
    assert not result.ok and result.stage == "timeout"
    assert_parent_still_works(sandbox)


def fake_python(tmp_path, body: str):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return str(fake)


def test_hung_child_is_killed_by_the_parent(monkeypatch, tmp_path) -> None:
    """One-interpreter-per-run path: a child that stops responding is killed on the wall clock."""
    import datashark.luau.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "USE_ZYGOTE", False)
    monkeypatch.setattr(
        sandbox_module.sys, "executable", fake_python(tmp_path, "echo ready\nsleep 60\n")
    )
    result = run_sandbox(
        [SandboxScript("Main", "Script", "ServerScriptService", OK_SCRIPT)], timeout_s=0.2
    )
    assert not result.ok and result.stage == "timeout" and "killed" in (result.error or "")


def test_dead_child_process_is_reported_as_crash(monkeypatch, tmp_path) -> None:
    import datashark.luau.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "USE_ZYGOTE", False)
    monkeypatch.setattr(
        sandbox_module.sys,
        "executable",
        fake_python(tmp_path, "echo 'fatal: VM died' >&2\nexit 3\n"),
    )
    result = run_sandbox([SandboxScript("Main", "Script", "ServerScriptService", OK_SCRIPT)])
    assert not result.ok and result.stage == "crash"
    assert "exit code 3" in (result.error or "") and "VM died" in (result.error or "")


def test_one_interpreter_per_run_path_works(monkeypatch, sandbox) -> None:
    import datashark.luau.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "USE_ZYGOTE", False)
    assert_parent_still_works(sandbox)
    result = sandbox("while true do end", timeout_s=0.5)
    assert result.stage == "timeout"


def test_first_script_error_stops_a_long_check(sandbox) -> None:
    source = "game:GetService('RunService').Heartbeat:Connect(function()\n\tlocal x = nil + 1\nend)"
    result = sandbox(source, "advance(80000)\nreturn true")
    assert result.stage == "run" and result.line == 2
    assert "attempt to perform arithmetic" in (result.error or "")
    assert sum("[error]" in line for line in result.log) == 1
