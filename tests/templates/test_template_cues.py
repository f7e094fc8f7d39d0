"""Requests fill the parameters of the module, remote and color templates (their toml cues)."""

from __future__ import annotations

import pytest

from datashark.roblox.params import infer_params
from datashark.roblox.templates import get_template


@pytest.mark.parametrize(
    ("template_id", "prompt", "expected"),
    [
        ("day_night_cycle", "a day night cycle that starts at 18", {"start_time": 18}),
        (
            "day_night_cycle",
            "every 2 seconds move the clock forward by 0.5 hours",
            {"hours_per_step": 0.5, "step_seconds": 2},
        ),
        ("day_night_cycle", "day night cycle, a 20 minute day", {"day_length_minutes": 20}),
        ("color_cycle", "a rainbow part that fades to the next color every 3 seconds",
         {"rainbow": True, "fade": True, "interval": 3}),
        ("click_color_tween", "click to tween the part to #FF8800 over 0.5 seconds",
         {"target_color": "FF8800", "tween_time": 0.5}),
        ("click_color_tween", 'clicking tweens it to color "#00ff00"', {"target_color": "#00ff00"}),
        ("paint_request", 'RemoteEvent named "Paint" for the part named Board, 2 second cooldown',
         {"remote_name": "Paint", "canvas_name": "Board", "cooldown": 2}),
        ("buy_item", "a RemoteFunction called Purchase, players start with 250 in leaderstats Gold",
         {"remote_name": "Purchase", "currency": "Gold", "starting_amount": 250}),
        ("game_config", "config with WalkSpeed = 24 and JumpPower: 70", {"walk_speed": 24, "jump_power": 70}),
        ("inventory", "an inventory with a capacity of 12", {"capacity": 12}),
        ("stack", "a stack with a max size of 10 that drops the oldest item", {"max_size": 10, "drop_oldest": True}),
    ],
)  # fmt: skip
def test_requests_set_parameters(template_id, prompt, expected) -> None:
    assert infer_params(get_template(template_id), prompt) == expected


def test_day_night_keeps_the_studio_clock_time_unless_asked() -> None:
    assert infer_params(get_template("day_night_cycle"), "make a day and night cycle") == {}
    assert get_template("day_night_cycle").values()["start_time"] < 0
