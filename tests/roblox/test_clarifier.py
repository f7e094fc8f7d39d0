"""The rule table and the LLM JSON parser of the clarifier."""

from __future__ import annotations

import pytest

from datashark.gateway.provider import ProviderError
from datashark.roblox.clarifier import parse_questions, rule_questions
from datashark.roblox.protocol import Context


def ids(prompt: str, context: Context | None = None) -> list[str]:
    return [q.id for q in rule_questions(prompt, context)]


def test_a_bare_door_asks_how_it_opens_moves_and_closes() -> None:
    questions = rule_questions("make a door", None)
    assert [q.id for q in questions] == ["door_trigger", "door_motion", "door_close"]
    assert all(2 <= len(q.options) <= 4 for q in questions)


def test_details_in_the_request_answer_the_rules() -> None:
    assert ids("make a door that slides open when touched and closes after 3 seconds") == []
    assert ids("make a door with a proximity prompt") == ["door_motion", "door_close"]


def test_clear_requests_need_no_questions() -> None:
    assert ids("make a part that kills players when they touch it") == []
    assert ids("add a leaderboard with coins that saves to a datastore") == []


def test_missing_target_and_behaviour() -> None:
    assert ids("make it glow") == []  # "it" refers to something
    assert ids("something cool") == ["target"]
    with_selection = Context(selection=[{"path": "Workspace.Lamp", "className": "Part"}])
    assert ids("something cool", with_selection) == ["behaviour"]


def test_llm_json_is_parsed_and_cleaned() -> None:
    text = 'Sure: {"questions": [{"id": "Open How?", "text": " How? ", "options": ["A", " B "]}]}'
    (q,) = parse_questions(text)
    assert (q.id, q.text, q.options) == ("open_how", "How?", ["A", "B"])
    assert parse_questions('{"questions": []}') == []


@pytest.mark.parametrize(
    "text",
    [
        "no json here",
        '{"questions": "none"}',
        '{"questions": [{"text": "x", "options": [1]}]}',
        "{bad",
    ],
)
def test_bad_llm_replies_are_malformed(text: str) -> None:
    with pytest.raises(ProviderError) as info:
        parse_questions(text)
    assert info.value.reason == "malformed"
