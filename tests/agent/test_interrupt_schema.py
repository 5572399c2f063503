"""docs/interrupt.schema.json is the published contract: the interrupt values real runs raise and the
resume values every client sends validate against it, and the parsers read what it allows."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, ValidationError

from tools.authorization import AuthorizationAnswer, AuthorizationRequest, resume_map

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "interrupt.schema.json").read_text())
CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"


def validator(definition: str = "") -> Draft202012Validator:
    schema = dict(SCHEMA, **({"$ref": f"#/$defs/{definition}"} if definition else {}))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_schema_is_valid_json_schema():
    Draft202012Validator.check_schema(SCHEMA)


async def test_real_interrupt_values_validate(harness, control):
    """A first link (Google and GitHub at once) and a step-up (more scopes on a linked account)."""
    paused = await harness.ask("Show my calendar for tomorrow and my github repositories")
    values = [i.value for i in paused["__interrupt__"]]
    control.seed_tokenset(harness.user["user_id"], "google-oauth2", [CAL_READ])
    harness.thread = {"configurable": {"thread_id": harness.thread["configurable"]["thread_id"] + "-2"}}
    step_up = await harness.ask("Schedule \"Planning\" tomorrow at 10:00")
    values += [i.value for i in step_up["__interrupt__"]]

    assert sorted(v["reason"] for v in values) == ["insufficient_scope", "not_linked", "not_linked"]
    for value in values:
        validator().validate(value)
        request = AuthorizationRequest.from_json(value)
        assert request.to_json() == value  # the typed fields carry everything the value holds
        [action] = value["action_requests"]
        assert value["review_configs"] == [{"action_name": action["name"], "allowed_decisions": ["approve", "reject"]}]
        # What Agent Chat UI shows: the sentence first, then the link as a markdown link to the same URL.
        assert action["description"].startswith("The assistant needs ")
        link = re.search(r"\[Allow [^\]]+\]\(([^)]+)\)", action["description"]).group(1)
        assert link == value["authorize_url"] and action["args"]["authorize"].endswith(f"({link})")
        # The card names the day the link stops working, not only the time (a link lives a day).
        until = datetime.fromisoformat(value["expires_at"])
        assert action["args"]["link works until"] == until.strftime("%a %d %b %H:%M UTC")
        assert f"works until {until:%a %d %b %H:%M} UTC" in action["description"]


def test_the_card_shows_the_expiry_day_and_keeps_a_value_it_cannot_read():
    for expires_at, shown in (("2026-11-25T10:00:00Z", "Wed 25 Nov 10:00 UTC"),
                              ("2026-11-25T10:00:00+02:00", "2026-11-25T10:00:00+02:00"),
                              ("tomorrow", "tomorrow")):
        request = AuthorizationRequest("google-oauth2", ["read"], "https://x.example/link/s", "s", expires_at, "t", "")
        assert request.to_json()["action_requests"][0]["args"]["link works until"] == shown


def test_a_request_without_scopes_reads_as_a_sentence():
    """GitHub's public reads ask no scope: the card says what is needed without an empty list."""
    request = AuthorizationRequest("github", [], "https://x.example/link/s", "s", "2026-11-25T10:00:00Z",
                                   "list_github_repositories", "")
    [action] = request.to_json()["action_requests"]
    assert action["args"]["request"] == \
        "The assistant needs access to your GitHub to run `list_github_repositories`."


def test_the_interrupt_schema_refuses_a_value_without_the_review_request():
    value = AuthorizationRequest("github", ["repo"], "https://tenant.example/authorize?state=s", "s",
                                 "2026-11-25T10:00:00Z", "list_github_repositories", "Please allow.").to_json()
    validator().validate(value)
    for broken in ({k: v for k, v in value.items() if k != "action_requests"},
                   {**value, "review_configs": [{"action_name": "x", "allowed_decisions": ["edit"]}]},
                   {**value, "expires_at": "in ten minutes"},
                   {**value, "access_token": "ya29.a0"}):
        with pytest.raises(ValidationError):
            validator().validate(broken)


RESUMES = [
    ({"state": "s", "status": "authorized"}, "authorized"),
    ({"state": "s", "status": "reissue"}, "reissue"),
    ({"decisions": [{"type": "approve"}]}, "approved"),
    ({"decisions": [{"type": "reject", "message": "Not now."}]}, "declined"),
    ({"decisions": [{"type": "edit", "edited_action": {"name": "t", "args": {}}}]}, "approved"),
]


@pytest.mark.parametrize(("value", "status"), RESUMES)
def test_accepted_resume_values_validate_and_parse(value, status):
    validator("resume").validate(value)
    validator("resume").validate({"0123456789abcdef0123456789abcdef": value})
    assert AuthorizationAnswer.from_json(value).status == status


def test_what_the_clients_send_validates():
    interrupts = [{"id": "0123456789abcdef0123456789abcdef", "value": {"type": "auth0/authorization_required",
                                                                      "state": "s"}}]
    for status in ("authorized", "declined", "expired"):
        validator("resume").validate(resume_map(interrupts, "s", status))  # the callback, CLI, notebooks
    validator("resume").validate(AuthorizationAnswer("s", "declined", "a note").to_json())
    for wrong in ({"state": "s", "status": "yes"}, {"decisions": []}, {"decisions": [{"type": "maybe"}]}, "authorized"):
        with pytest.raises(ValidationError):
            validator("resume").validate(wrong)


def test_the_card_link_survives_markdown():
    """A CommonMark parser (what the UI's react-markdown follows) finds the link with the request's URL and
    shows the label as written, whatever characters they hold."""
    from markdown_it import MarkdownIt

    url = "https://tenant.example/authorize?state=s&x=(a)+b c&y=<z>"
    request = AuthorizationRequest("acme_[crm]", ["read*"], url, "s", "2026-11-25T10:00:00Z",
                                   "list_*things*", "Please allow.")
    [action] = request.to_json()["action_requests"]
    for text in (action["description"], action["args"]["authorize"]):
        tokens = [t for block in MarkdownIt().parse(text) for t in (block.children or [])]
        [link] = [t for t in tokens if t.type == "link_open"]
        assert link.attrGet("href") == url.replace("(", "%28").replace(")", "%29").replace(" ", "%20") \
            .replace("<", "%3C").replace(">", "%3E")
    rendered = MarkdownIt().renderInline(action["args"]["request"])
    assert "acme_[crm]" in rendered and "<em>" not in rendered and "list_*things*" in rendered
