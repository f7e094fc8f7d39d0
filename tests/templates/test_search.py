"""Template retrieval: the right template for Roblox requests, low confidence off-topic."""

from __future__ import annotations

import pytest

from datashark.roblox.templates import CONFIDENCE_THRESHOLD, best_match, load_templates, search

TEMPLATES = load_templates()

OFF_TOPIC = [
    "write me a sorting algorithm for a bank account database",
    "what is the capital of France",
    "implement quicksort in python",
    "build a REST API for a todo list in javascript",
    "calculate compound interest on a savings account",
    "parse a CSV file and compute averages",
    "procedural terrain generation with perlin noise",
    "make a car with working suspension",
]


def test_kill_brick_request_finds_the_kill_brick() -> None:
    template, confidence = search("make a part that kills players when they touch it")[0]
    assert template.id == "kill_brick"
    assert confidence >= CONFIDENCE_THRESHOLD


def test_bank_database_request_has_low_confidence() -> None:
    _, confidence = search("write me a sorting algorithm for a bank account database")[0]
    assert confidence < CONFIDENCE_THRESHOLD
    assert best_match("write me a sorting algorithm for a bank account database") is None


@pytest.mark.parametrize(
    ("template", "example"),
    [(t, e) for t in TEMPLATES for e in t.examples],
    ids=[f"{t.id}:{i}" for t in TEMPLATES for i in range(len(t.examples))],
)
def test_examples_rank_their_template_first(template, example) -> None:
    top, confidence = search(example)[0]
    assert top.id == template.id
    assert confidence >= CONFIDENCE_THRESHOLD


@pytest.mark.parametrize("prompt", OFF_TOPIC)
def test_off_topic_requests_stay_below_the_threshold(prompt) -> None:
    assert all(score < CONFIDENCE_THRESHOLD for _, score in search(prompt))


def test_scores_are_in_range_and_every_template_is_ranked() -> None:
    for prompt in ("door", "", "   ", "!!!", "make a make a make"):
        ranked = search(prompt)
        assert len(ranked) == len(TEMPLATES)
        assert all(0.0 <= score <= 1.0 for _, score in ranked)
    assert all(score == 0.0 for _, score in search("please make a script"))


LONG_PROMPTS = [
    (
        "Make the selected part a kill brick: any player whose character touches it dies, "
        "and it should work for every player in the server, also after they respawn.",
        "kill_brick",
    ),
    (
        "I am building an obby. When a player touches the selected platform, wait a second, then "
        "make it vanish so that players fall through it, and bring it back a few seconds later.",
        "disappearing_platform",
    ),
    (
        "Give each player leaderstats Coins. Save Coins with DataStoreService when they leave "
        "and load it again when they join; new players start at 0.",
        "datastore_save",
    ),
    (
        "Set up a day/night cycle for my map: move Lighting.ClockTime forward a little every "
        "second and wrap around from 24 to 0 so the sun and moon keep going.",
        "day_night_cycle",
    ),
]


@pytest.mark.parametrize(("prompt", "expected"), LONG_PROMPTS)
def test_long_specific_requests_find_their_template(prompt, expected) -> None:
    template, confidence = search(prompt)[0]
    assert template.id == expected
    assert confidence >= CONFIDENCE_THRESHOLD


def test_a_long_off_topic_request_stays_below_the_threshold() -> None:
    prompt = (
        "Write me a sorting algorithm for a bank account database: read every account, sort "
        "them by balance and then by the owner's surname, and print a report of the top ten."
    )
    assert all(score < CONFIDENCE_THRESHOLD for _, score in search(prompt))


def test_a_specific_template_ranks_before_a_generic_one_the_request_names() -> None:
    # the request mentions leaderstats, but it is about saving them
    prompt = "Save each player's leaderstats Coins to a DataStore when they leave the game."
    assert search(prompt)[0][0].id == "datastore_save"
