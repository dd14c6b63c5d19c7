"""Template models, rendering, Pinpoint JSON and the project store."""

from __future__ import annotations

import pandas as pd
import pytest

from engagekit.endpoints import normalize_endpoints
from engagekit.templates import (
    EmailTemplate,
    render,
    render_batch,
)


@pytest.fixture
def endpoints() -> pd.DataFrame:
    return normalize_endpoints(
        pd.DataFrame(
            {
                "Id": ["e1", "e2", "e3"],
                "ChannelType": ["EMAIL", "EMAIL", "SMS"],
                "Address": ["ada@example.com", "alan@example.com", "+12065550100"],
                "User.UserId": ["u1", "u2", "u3"],
                "User.UserAttributes.FirstName": [["ada"], ["alan"], None],
                "Attributes.plan": [["pro"], ["free"], ["pro"]],
                "Attributes.interests": [["yoga", "tennis"], [], ["hiking"]],
                "Location.City": ["Los Angeles", "Paris", "Berlin"],
                "Metrics.visits": [3.0, 7.5, None],
            }
        )
    )


def test_render_string_against_flat_endpoint_mapping():
    ctx = {"User.UserAttributes.FirstName": ["Ada"]}
    assert render("Hi {{User.UserAttributes.FirstName.[0]}}!", ctx) == "Hi Ada!"


def test_whole_list_prints_comma_joined_like_handlebars_js():
    assert render("{{Attributes.interests}}", {"Attributes.interests": ["a", "b"]}) == "a,b"


def test_render_batch_is_aligned_with_plan_and_skips_unscheduled_rows(endpoints):
    plan = pd.DataFrame(
        {"endpoint_id": ["e2", "e1", "e9", "e3"],
         "status": ["scheduled", "scheduled", "scheduled", "excluded"]},
        index=[10, 11, 12, 13],
    )  # fmt: skip
    t = EmailTemplate(Subject="Hi {{capitalize User.UserAttributes.FirstName}}",
                      HtmlPart="<p>{{Attributes.plan}} in {{Location.City}}</p>")  # fmt: skip
    out = render_batch(plan, t, endpoints)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.loc[10, "Subject"] == "Hi Alan"
    assert out.loc[11, "HtmlPart"] == "<p>pro in Los Angeles</p>"
    assert "not in the endpoints frame" in out.loc[12, "render_error"]
    assert pd.isna(out.loc[13, "Subject"]) and pd.isna(out.loc[13, "render_error"])
