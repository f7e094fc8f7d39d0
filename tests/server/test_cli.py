"""Acceptance 1 in miniature: `datashark serve` as a user runs it (a child process, settings from
flags and environment, the default model from the cache) answers the official `openai` client:
a chat completion, a streamed one with usage in the last chunk, a completion and the model list;
and it writes one JSON log line per request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import openai


def test_serve_command_answers_openai_client(tmp_path) -> None:
    from datashark.server.bench import free_port

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DATASHARK_") or k == "DATASHARK_HOME"
    }
    env["DATASHARK_THREADS"] = "2"
    cmd = [sys.executable, "-m", "datashark.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(base + "/health").status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, "server did not become ready"
        client = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["smollm2"]
        chat = client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Hello!"}], max_tokens=5
        )
        assert chat.choices[0].message.content
        chunks = list(
            client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": "Hello!"}],
                max_tokens=5,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1
        text = client.completions.create(model="smollm2", prompt="Hello", max_tokens=3)
        assert text.choices[0].text is not None
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"id"')]
    routes = [line["route"] for line in log_lines]
    assert routes.count("/v1/chat/completions") == 2 and "/v1/completions" in routes
    assert all(
        {"id", "route", "status", "ms", "prompt_tokens", "completion_tokens"} <= set(line)
        for line in log_lines
    )
