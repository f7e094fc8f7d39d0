"""Clarifying questions: when a request lacks something essential, ask 1-3 questions with options.

Two sources. An LLM provider is asked first (`clarifier_messages`), and must answer with JSON
`{"questions": [{"id", "text", "options": [...]}]}` (an empty list means the request is clear);
`parse_questions` accepts only that shape. When no provider can, `rule_questions` decides with a
table of rules: each rule names the things it applies to and the words that show the missing
detail is already given ("make a door" does not say how it opens or moves; "a door that slides
open when touched" does). Generic rules catch a missing target object and a missing behaviour.

Not handled: multi-turn clarification (answers come back once, then the flow generates).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from datashark.gateway.provider import FailureReason, Message, ProviderError
from datashark.roblox.protocol import Context, Question

MAX_QUESTIONS = 3


@dataclass(frozen=True)
class Rule:
    """Ask `question` when the request mentions `subject` and none of `answered_by`."""

    id: str
    subject: str  # regex; "" = any request
    answered_by: str  # regex over the request (answers included)
    text: str
    options: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    Rule(
        "door_trigger",
        r"\bdoors?\b",
        r"touch|click|prompt|proximity|press|key|button|walk|near|approach|automatic|open(s|ed)? when|interact|card|password",
        "How should the door open?",
        (
            "When a player touches it",
            "With a ProximityPrompt (hold E)",
            "When clicked (ClickDetector)",
        ),
    ),
    Rule(
        "door_motion",
        r"\bdoors?\b",
        r"slid|swing|rotat|hinge|fade|transparen|disappear|vanish|tween|lift|rise|up\b|down\b|canCollide",
        "How should it open?",
        (
            "Slide sideways with a tween",
            "Swing open on a hinge",
            "Fade out and let players through",
        ),
    ),
    Rule(
        "door_close",
        r"\bdoors?\b",
        r"close|stay|forever|seconds|timer|toggle|again|back|permanent|shut|lock",
        "Should it close again?",
        ("Close after 3 seconds", "Stay open", "Toggle on each use"),
    ),
    Rule(
        "shop_currency",
        r"\bshop|store\b|buy|purchase|sell",
        r"coin|cash|gold|gem|money|robux|point|leaderstat|currency|free",
        "What do players pay with?",
        ("Coins in leaderstats", "Robux (developer product)", "It is free"),
    ),
    Rule(
        "gui_side",
        r"\bgui\b|\bui\b|screen|button|menu|hud|frame|label",
        r"server|client|local|everyone|all players|each player",
        "Who should see it?",
        ("Each player sees their own (LocalScript)", "Everyone sees the same (server)"),
    ),
    Rule(
        "npc_behaviour",
        r"\bnpc|enemy|zombie|monster|pet\b",
        r"follow|chase|attack|walk|patrol|wander|talk|idle|stand|shoot|damage",
        "What should it do?",
        ("Chase the nearest player", "Patrol between points", "Follow its owner"),
    ),
)

_VERB = re.compile(
    r"\b(kill|damage|heal|open|close|move|spin|rotat|teleport|give|award|save|load|spawn|destroy|"
    r"change|chang|show|hide|play|count|track|collect|jump|sprint|run|fly|follow|chase|shoot|fire|"
    r"tween|fade|toggle|when|if|every|after|on touch|touch|click|press|buy|sell|reset|respawn|"
    r"print|log|display|update|grow|shrink|explode|light|glow|color|colour|slide)",
    re.IGNORECASE,
)
_OBJECT = re.compile(
    r"\b(part|brick|block|door|button|gui|ui|npc|player|character|leaderboard|leaderstats|coin|"
    r"checkpoint|teleporter|platform|tool|sword|gun|car|vehicle|shop|lava|light|sound|model|"
    r"spawn|zone|area|pad|trap|elevator|lift|map|round|timer|datastore|data|camera|sprint|jump|"
    r"day|night|cycle|script|this|it|selected|lamp|chest|pet|enemy|zombie|wall|floor|bridge)s?\b",
    re.IGNORECASE,
)


def rule_questions(prompt: str, context: Context | None) -> list[Question]:
    """The rule table's questions for this request (at most three)."""
    text = prompt.lower()
    questions: list[Question] = []
    for rule in RULES:
        if re.search(rule.subject, text) and not re.search(rule.answered_by, text, re.IGNORECASE):
            questions.append(Question(id=rule.id, text=rule.text, options=list(rule.options)))
    has_selection = bool(context and (context.selection or context.scripts))
    if not questions and not has_selection and not _OBJECT.search(text):
        questions.append(
            Question(
                id="target",
                text="What should the script work on?",
                options=[
                    "A new Part in Workspace",
                    "Every player's character",
                    "The whole game (server)",
                ],
            )
        )
    if not questions and len(text.split()) <= 3 and not _VERB.search(text):
        questions.append(
            Question(
                id="behaviour",
                text="What should happen?",
                options=[
                    "Something when a player touches it",
                    "Something every few seconds",
                    "Something when clicked",
                ],
            )
        )
    return questions[:MAX_QUESTIONS]


CLARIFIER_SYSTEM = (
    "You review requests for Roblox Luau scripts before anyone writes code. Decide whether the "
    "request lacks something essential to write a correct script: which object it acts on, "
    "whether it runs on the server or each client, what should happen and when. If it is clear "
    'enough, answer {"questions": []}. Otherwise ask one to three short questions, each with two '
    "to four concrete options. Answer with JSON only, no prose, exactly in this shape:\n"
    '{"questions": [{"id": "snake_case_id", "text": "Question?", "options": ["A", "B"]}]}'
)


def clarifier_messages(prompt: str, context: Context | None) -> tuple[Message, ...]:
    parts = [f"Request: {prompt}"]
    if context and context.selection:
        parts.append(
            "Selected in Studio: "
            + ", ".join(f"{item.path} ({item.className})" for item in context.selection[:10])
        )
    if context and context.scripts:
        parts.append("Selected scripts: " + ", ".join(s.path for s in context.scripts[:10]))
    return (Message("system", CLARIFIER_SYSTEM), Message("user", "\n".join(parts)))


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_questions(text: str) -> list[Question]:
    """Questions from a model's JSON reply; raises ProviderError(MALFORMED) for anything else."""
    match = _JSON_OBJECT.search(text)
    if not match:
        raise ProviderError(FailureReason.MALFORMED, "clarifier reply has no JSON object")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ProviderError(
            FailureReason.MALFORMED, f"clarifier reply is not JSON: {exc}"
        ) from None
    raw = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise ProviderError(FailureReason.MALFORMED, 'clarifier JSON has no "questions" list')
    questions: list[Question] = []
    for n, item in enumerate(raw[:MAX_QUESTIONS]):
        if not isinstance(item, dict):
            raise ProviderError(FailureReason.MALFORMED, "a clarifier question is not an object")
        text_ = item.get("text")
        options = item.get("options")
        if not isinstance(text_, str) or not text_.strip():
            raise ProviderError(FailureReason.MALFORMED, "a clarifier question has no text")
        if not isinstance(options, list) or not all(
            isinstance(o, str) and o.strip() for o in options
        ):
            raise ProviderError(
                FailureReason.MALFORMED, "clarifier options must be a list of strings"
            )
        qid = item.get("id")
        qid = (
            re.sub(r"[^a-z0-9_]+", "_", qid.lower()).strip("_")[:64] if isinstance(qid, str) else ""
        )
        questions.append(
            Question(
                id=qid or f"q{n + 1}",
                text=text_.strip()[:300],
                options=[o.strip()[:200] for o in options[:4]],
            )
        )
    return questions
