"""The zygote (fork server) path: children that die or hang are handled, a dead zygote restarts.

Children are found with psutil as the zygote's child processes; the tests signal them the way
the kernel's OOM killer or a stuck native call would.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from datashark.luau.sandbox import USE_ZYGOTE, SandboxScript, run_sandbox

pytestmark = pytest.mark.skipif(not USE_ZYGOTE, reason="the zygote needs fork (POSIX)")

BUSY = SandboxScript("Busy", "Script", "ServerScriptService", "while true do task.wait(1) end\n")
OK = SandboxScript("Ok", "Script", "ServerScriptService", 'print("ok")')
FOREVER = "while true do advance(1) end"  # keeps the child busy until its budget runs out


def zygote() -> psutil.Process:
    for child in psutil.Process().children(recursive=True):
        if "datashark.luau.zygote" in " ".join(child.cmdline()):
            return child
    raise AssertionError("no zygote running")


def run_in_thread(**kwargs) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(run_sandbox(**kwargs)))
    thread.start()
    return thread, out


def wait_for_sandbox_child() -> psutil.Process:
    for _ in range(400):
        children = zygote().children()
        if children:
            return children[0]
        time.sleep(0.025)
    raise AssertionError("no sandbox child appeared")


def test_runs_go_through_one_zygote() -> None:
    assert run_sandbox([OK]).log == ("ok",)
    first = zygote().pid
    assert run_sandbox([OK]).log == ("ok",)
    assert zygote().pid == first


def test_killed_child_is_a_crash() -> None:
    run_sandbox([OK])  # zygote up
    thread, out = run_in_thread(scripts=[BUSY], check=FOREVER, timeout_s=30)
    wait_for_sandbox_child().send_signal(signal.SIGKILL)
    thread.join(60)
    assert out and out[0].stage == "crash" and not out[0].ok


def test_stopped_child_is_killed_on_the_wall_clock() -> None:
    run_sandbox([OK])
    thread, out = run_in_thread(scripts=[BUSY], check=FOREVER, timeout_s=2)
    child = wait_for_sandbox_child()
    child.send_signal(signal.SIGSTOP)  # stuck where the VM's interrupt cannot reach
    thread.join(60)
    assert out and out[0].stage == "timeout" and "killed" in (out[0].error or "")
    child.wait(timeout=10)  # the parent killed it (psutil.TimeoutExpired if it is still there)


def test_dead_zygote_is_restarted() -> None:
    run_sandbox([OK])
    old = zygote()
    os.kill(old.pid, signal.SIGKILL)
    old.wait(10)
    assert run_sandbox([OK]).log == ("ok",)
    assert zygote().pid != old.pid


def test_forked_process_starts_its_own_zygote() -> None:
    """A process forked after the zygote started (e.g. a pre-fork server worker) leaves the
    parent's zygote alone and starts its own."""
    run_sandbox([OK])
    parent_zygote = zygote().pid
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: run a sandbox, report, exit without running pytest's atexit
        os.close(read_end)
        result = run_sandbox([OK])
        os.write(write_end, b"ok" if result.log == ("ok",) else b"bad")
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_end, 10) == b"ok"
    os.close(read_end)
    assert zygote().pid == parent_zygote
    assert run_sandbox([OK]).log == ("ok",)


def zygote_pids() -> set[int]:
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if "datashark.luau.zygote" in " ".join(p.cmdline())
    }


def test_unusable_temp_dir_falls_back_to_one_interpreter_per_run(monkeypatch) -> None:
    import datashark.luau.sandbox as sandbox_module
    import datashark.luau.zygote as zygote_module

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(zygote_module.tempfile, "mkdtemp", read_only)
    monkeypatch.setattr(sandbox_module, "_ZYGOTE", zygote_module.Zygote(5.0))
    before = zygote_pids()
    result = run_sandbox([OK])
    assert result.ok and result.log == ("ok",)
    assert zygote_pids() == before, "no zygote could start, the run used its own interpreter"
