"""Request phrases fill template parameters: cues with numbers, names and booleans (params.py),
on the real library's templates and on small stand-in templates for the general rules."""

from __future__ import annotations

import pytest

from datashark.roblox.params import cue_pattern, infer_params
from datashark.roblox.templates import Template, TemplateParam, get_template


def template_with(*params: TemplateParam) -> Template:
    return Template("t", "T", "d", (), "Script", "ServerScriptService", "", params, "")


NAME = TemplateParam("part_name", "Part", cues=("named {name}", "called {name}", "{name} IntValue"))
EVERY = TemplateParam("interval", 1, cues=("every {n} seconds", "every {n} second"))
DURATION = TemplateParam("duration", 5.0, cues=("for {n} seconds",))
STUDS = TemplateParam("distance", 10, cues=("{n} studs",))
FULL = TemplateParam("full_heal", False, cues=("full health",))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("spawn a part named Block", "Block"),
        ("spawn a part called Coin every 2 seconds", "Coin"),
        ('spawn a part named "Gold Coin"', "Gold Coin"),
        ("spawn a part named 'Gem'", "Gem"),
        ("give them a leaderstats folder with a Points IntValue", "Points"),
    ],
)
def test_names_quoted_or_pascal_case(prompt, expected) -> None:
    assert infer_params(template_with(NAME), prompt) == {"part_name": expected}


def test_lower_case_words_are_not_names() -> None:
    assert infer_params(template_with(NAME), "make a part named after the player") == {}
    assert infer_params(template_with(NAME), "a leaderstats folder with an intvalue") == {}


def test_two_different_names_are_ambiguous() -> None:
    assert infer_params(template_with(NAME), "a part named Red and a part named Blue") == {}
    assert infer_params(template_with(NAME), "Coins IntValue, the part named Coins") == {
        "part_name": "Coins"
    }


def test_numbers_in_cues_keep_the_parameters_type() -> None:
    t = template_with(EVERY, DURATION, STUDS)
    assert infer_params(t, "every 3 seconds, slide it 12 studs for 2 seconds") == {
        "interval": 3,
        "duration": 2.0,
        "distance": 12,
    }
    assert infer_params(t, "every 1.5 seconds") == {"interval": 1.5}
    assert infer_params(t, "EVERY   4\nSECONDS") == {"interval": 4}
    assert infer_params(t, "every few seconds, 3 studsy") == {}


def test_boolean_phrases() -> None:
    assert infer_params(template_with(FULL), "restore them to full health") == {"full_heal": True}
    assert infer_params(template_with(FULL), "heal them a bit") == {}


def test_cue_pattern_needs_whole_words() -> None:
    assert cue_pattern("every {n} seconds").search("every 2 secondsx") is None
    assert cue_pattern("named {name}").search("renamed Block") is None


def test_library_templates_read_their_values_from_long_requests() -> None:
    assert infer_params(
        get_template("datastore_save"),
        "Give each player a leaderstats Level IntValue that starts at 1 for new players. Save it "
        'in the DataStore "Levels" under the key "level_" .. UserId when they leave.',
    ) == {"store_name": "Levels", "stat_name": "Level", "default_value": 1, "key_prefix": "level_"}
    assert infer_params(
        get_template("healing_pad"),
        "touching it restores the character to full health, at most once every 2 seconds",
    ) == {"full_heal": True, "cooldown": 2}
    assert infer_params(
        get_template("spinning_part"), "spin it around Y, one full turn every 2 seconds"
    ) == {"seconds_per_turn": 2}
    assert infer_params(
        get_template("teleporter"), "teleport them onto the part named Destination in Workspace"
    ) == {"destination": "Destination"}
    assert infer_params(
        get_template("gui_button"),
        "a ScreenGui with a TextButton named ShopButton that opens a Frame named ShopFrame",
    ) == {"button_name": "ShopButton", "menu_name": "ShopFrame"}


def test_rendered_names_pass_the_templates_own_check(run_template) -> None:
    template = get_template("datastore_save")
    values = {"store_name": "Levels", "stat_name": "Level", "default_value": 1}
    result = run_template(template, template.render(values), template.check_for(values))
    assert result.ok, result.error
    # the check follows the parameters: the default script does not save a Level
    result = run_template(template, template.render(), template.check_for(values))
    assert not result.ok
