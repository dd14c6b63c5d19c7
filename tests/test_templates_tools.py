"""validate, preview and the ``engagekit templates`` command."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engagekit.cli import main
from engagekit.endpoints import normalize_endpoints
from engagekit.templates import (
    EmailTemplate,
    SMSTemplate,
    preview,
    save_template,
    validate,
)


@pytest.fixture
def endpoints() -> pd.DataFrame:
    return normalize_endpoints(
        pd.DataFrame(
            {
                "Id": ["e1", "e2", "e3"],
                "User.UserAttributes.FirstName": [["Ada"], None, ["Grace"]],
                "Attributes.age": [["30"], ["41"], ["n/a"]],
                "Location.City": ["Paris", None, "Rome"],
            }
        )
    )


def test_validate_reports_missing_variables_and_failing_helpers(endpoints):
    t = SMSTemplate(
        Body="Hi {{User.UserAttributes.FirstName}} in {{Location.City}}, "
        "{{Attributes.coupon}} {{add Attributes.age 1}}",
        DefaultSubstitutions={"Location.City": "your city"},
    )
    report = validate(t, endpoints)
    assert not report.ok
    assert report.errors["endpoint_id"].tolist() == ["e3"]
    assert "add expects a number" in report.errors["error"].iloc[0]
    lacking = report.missing.groupby("variable")["endpoint_id"].apply(sorted).to_dict()
    assert lacking == {
        "Attributes.coupon": ["e1", "e2", "e3"],
        "User.UserAttributes.FirstName": ["e2"],
    }
    assert report.unknown_variables == ["Attributes.coupon"]
    assert report.summary()["variable"].iloc[0] == "Attributes.coupon"
    assert "Location.City" in report.variables["Body"]


def test_validate_ok_when_every_endpoint_renders(endpoints):
    assert validate(SMSTemplate(Body="Hi {{Location.City}}"), endpoints).ok


def test_preview_shows_email_html_in_an_iframe_and_text_as_text(endpoints):
    t = EmailTemplate(
        Subject="Hi {{User.UserAttributes.FirstName}}",
        HtmlPart='<p class="x">Hello {{Location.City}}</p>',
        TextPart="Hello",
    )
    shown = preview(t, "e1", endpoints=endpoints)
    html = shown._repr_html_()
    assert "<iframe" in html and 'srcdoc="&lt;p class=&quot;x&quot;&gt;Hello Paris' in html
    assert "Hi Ada" in html and "Hi Ada" in repr(shown)
    sms = preview(SMSTemplate(Body="Hi {{User.UserAttributes.FirstName}}"), endpoints.iloc[2])
    assert "<pre" in sms._repr_html_() and "Hi Grace" in sms._repr_html_()


def test_cli_lists_shows_and_renders_templates(project, capsys, tmp_path):
    save_template(project, "promo", SMSTemplate(Body="Hi {{name}}", SenderId="ACME"))
    assert main(["templates", "list", "--project", str(project.path)]) == 0
    assert "promo" in capsys.readouterr().out
    assert main(["templates", "show", "promo", "--project", str(project.path), "--pinpoint"]) == 0
    assert json.loads(capsys.readouterr().out) == {"Body": "Hi {{name}}"}
    ctx = tmp_path / "ctx.json"
    ctx.write_text('{"name": "Ada"}')
    args = ["templates", "render", "promo", "--project", str(project.path), "--context", str(ctx)]
    assert main(args) == 0
    assert "Hi Ada" in capsys.readouterr().out
    assert main(["templates", "show", "nope", "--project", str(project.path)]) == 1
    assert "template 'nope' does not exist" in capsys.readouterr().err


def test_cli_renders_for_an_endpoint_of_the_project(project, capsys, endpoints):
    from engagekit.endpoints import write_endpoints

    write_endpoints(project, endpoints)
    t = EmailTemplate(Subject="Hi {{User.UserAttributes.FirstName}}", TextPart="{{Location.City}}")
    save_template(project, "welcome", t)
    args = ["templates", "render", "welcome", "-p", str(project.path), "--endpoint", "e3"]
    assert main([*args, "--part", "Subject"]) == 0
    assert capsys.readouterr().out.strip() == "Hi Grace"
    assert main([*args[:-1], "e404"]) == 1
    assert "not in the project's endpoints" in capsys.readouterr().err
