"""Acceptance 4: a client that closes its stream mid-way frees its slot (the running-sequences
gauge drops, its KV cache is released) and the server keeps serving."""

from __future__ import annotations

import json
import socket
import time

import httpx

LONG = [{"role": "user", "content": "Write a very long essay about the history of computing."}]


def _wait_for(predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_closed_stream_frees_its_slot_and_server_keeps_serving(client, server, smollm2) -> None:
    scheduler = server.app.state.runtime.scheduler
    assert server.metric("datashark_running_sequences") == 0
    body = {
        "model": "smollm2",
        "messages": LONG,
        "max_tokens": 400,
        "temperature": 0,
        "stream": True,
    }
    with httpx.Client(timeout=60) as http:
        with http.stream("POST", server.v1 + "/chat/completions", json=body) as response:
            lines = response.iter_lines()
            for _ in range(4):
                next(lines)
            assert server.metric("datashark_running_sequences") == 1
            seqs = [slot.seq for slot in scheduler._slots]
            assert len(seqs) == 1 and not seqs[0].freed
            job = scheduler._slots[0].job
            steps_at_close = scheduler.steps
        # leaving the block closed the connection mid-stream
    assert _wait_for(lambda: server.metric("datashark_running_sequences") == 0)
    assert job.cancelled and seqs[0].freed
    assert seqs[0].n_tokens < 100  # cancelled long before its 400 tokens
    assert scheduler.steps - steps_at_close < 50
    out = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=3
    )
    assert out.choices[0].message.content is not None


def test_non_streaming_client_gone_cancels_too(server) -> None:
    scheduler = server.app.state.runtime.scheduler
    body = {"model": "smollm2", "messages": LONG, "max_tokens": 400, "temperature": 0}
    # a raw client we can close at will: send the request, read nothing, hang up
    payload = json.dumps(body).encode()
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(head.encode() + payload)
    assert _wait_for(lambda: scheduler.running == 1 and scheduler._slots[0].seq.n_tokens > 5)
    slot = scheduler._slots[0]
    raw.close()
    assert _wait_for(lambda: scheduler.running == 0)
    assert slot.job.cancelled and slot.seq.freed
    assert slot.seq.n_tokens < 200
    assert server.metric("datashark_running_sequences") == 0
