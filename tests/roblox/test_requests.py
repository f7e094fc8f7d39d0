"""Bad input to /api/generate gets a clear 400 in the OpenAI error shape, never a 500, and the
server keeps serving afterwards."""

from __future__ import annotations

import httpx

GOOD = {"prompt": "make a part that kills players when they touch it", "clarify": False}


INVALID = [
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "x" * 8001}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": "door", "clarify": "maybe"}, "clarify"),
    ({"prompt": "door", "providers": []}, "providers"),
    ({"prompt": "door", "answers": {"a": 1}}, "answers.a"),
    ({"prompt": "door", "answers": [{"id": "a"}]}, "answers"),
    (
        {
            "prompt": "door",
            "context": {"scripts": [{"path": "A", "className": "Part", "source": ""}]},
        },
        "context.scripts.0.className",
    ),
    ({"prompt": "door", "surprise": True}, "surprise"),
    ([1, 2], None),
]


def test_invalid_requests_are_400_with_the_error_shape(live, standins) -> None:
    app = live(["primary"], standins)
    for body, param in INVALID:
        response = app.post(body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert set(error) == {"message", "type", "param", "code"}
        if param is not None:
            assert error["param"] == param and param.split(".")[0] in error["message"], body
    assert app.post(GOOD).status_code == 200  # still serving
    assert len(standins["primary"].seen) == 1  # nothing invalid reached a provider


def test_body_that_is_not_json(live, standins) -> None:
    app = live(["primary"], standins)
    response = httpx.post(
        f"{app.base_url}/api/generate",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_unknown_provider_is_named(live, standins) -> None:
    app = live(["primary"], standins)
    response = app.post(GOOD | {"providers": ["primary", "nope"]})
    assert response.status_code == 400
    assert (
        response.json()["error"]["param"] == "providers"
        and "nope" in response.json()["error"]["message"]
    )


def test_answers_as_a_list_are_accepted(live, standins) -> None:
    app = live(["primary"], standins)
    body = GOOD | {"answers": [{"id": "damage", "answer": "kill at once"}]}
    response = app.post(body)
    assert response.status_code == 200 and response.json()["status"] == "ok"
    user = standins["primary"].seen[0].body["messages"][1]["content"]
    assert "damage: kill at once" in user


def test_api_routes_sit_behind_the_server_key(live, standins) -> None:
    app = live(["primary"], standins, api_key="sk-datashark")
    assert app.post(GOOD).status_code == 401
    assert app.get("/api/metrics").status_code == 401
    response = httpx.post(
        f"{app.base_url}/api/generate",
        json=GOOD,
        headers={"Authorization": "Bearer sk-datashark"},
        timeout=60,
    )
    assert response.status_code == 200 and response.json()["status"] == "ok"
