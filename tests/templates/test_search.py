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
