"""Template models, rendering, Pinpoint JSON and the project store."""

from __future__ import annotations

import pandas as pd
import pytest

from engagekit.endpoints import normalize_endpoints
from engagekit.errors import DefinitionError, NotFoundError, TemplateError
from engagekit.templates import (
    EmailTemplate,
    PushTemplate,
    SMSTemplate,
    VoiceTemplate,
    list_templates,
    load_template,
    render,
    render_batch,
    rollback_template,
    save_template,
    template_versions,
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
        {
            "endpoint_id": ["e2", "e1", "e9", "e3"],
            "status": ["scheduled", "scheduled", "scheduled", "excluded"],
        },
        index=[10, 11, 12, 13],
    )
    t = EmailTemplate(
        Subject="Hi {{capitalize User.UserAttributes.FirstName}}",
        HtmlPart="<p>{{Attributes.plan}} in {{Location.City}}</p>",
    )
    out = render_batch(plan, t, endpoints)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.loc[10, "Subject"] == "Hi Alan"
    assert out.loc[11, "HtmlPart"] == "<p>pro in Los Angeles</p>"
    assert "not in the endpoints frame" in out.loc[12, "render_error"]
    assert pd.isna(out.loc[13, "Subject"]) and pd.isna(out.loc[13, "render_error"])


# -- pybars3 compatibility fixes --------------------------------------------------------------


def test_else_if_chain_renders_the_matching_branch():
    src = "{{#if a}}A{{else if b}}B{{else if (eq c 'x')}}C{{else}}D{{/if}}"
    assert render(src, {"a": False, "b": True}) == "B"
    assert render(src, {"c": "x"}) == "C"
    assert render(src, {}) == "D"
    assert render(src, {"a": 1, "b": 1}) == "A"


def test_else_chain_with_another_helper():
    src = "{{#eq p 'pro'}}P{{else eq p 'free'}}F{{else}}?{{/eq}}"
    assert [render(src, {"p": v}) for v in ("pro", "free", "x")] == ["P", "F", "?"]


def test_single_character_hash_keys_parse():
    from engagekit.templates import register_helper

    register_helper("kw", lambda this, **kw: ",".join(f"{k}={v}" for k, v in sorted(kw.items())))
    assert render('{{kw s="x" t=1}}', {}, html=False) == "s=x,t=1"


def test_inline_partial_and_string_partials():
    src = '{{#* inline "greet"}}Hi {{name}}{{/inline}}{{> greet}} / {{> footer}}'
    assert render(src, {"name": "Ada"}, partials={"footer": "bye {{name}}"}) == "Hi Ada / bye Ada"


def test_missing_partial_is_a_compile_error_naming_it():
    with pytest.raises(TemplateError, match="partial 'nope' is not defined"):
        render("{{> nope}}", {})


def test_dotted_section_names_and_unless_else():
    assert render("{{#a.b}}yes{{/a.b}}{{^a.c}}no{{/a.c}}", {"a": {"b": True}}) == "yesno"
    assert render("{{#unless x}}U{{else}}E{{/unless}}", {"x": 1}) == "E"


def test_compiling_from_many_threads_is_safe():
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> str:
        return render("{{#if x}}" + f"T{i}" + "{{else}}F{{/if}} {{v}}" + " " * i, {"x": 1, "v": i})

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, range(40)))
    assert got == [f"T{i} {i}" + " " * i for i in range(40)]


def test_compile_error_names_template_part_line_and_column():
    t = EmailTemplate(Subject="ok", HtmlPart="<p>\n  {{#if x}}never closed</p>")
    with pytest.raises(TemplateError, match=r"template 'promo', part HtmlPart, line 2, column 3"):
        render(t, {}, part="HtmlPart", name="promo")
    with pytest.raises(TemplateError, match=r"line 1, column 4: .*never opened"):
        render("ab {{/each}}", {})
    with pytest.raises(TemplateError, match=r"line 1, column 10: .*does not match"):
        render("{{#if x}}{{/each}}", {})


# -- values and safety -------------------------------------------------------------------------


def test_attribute_values_are_data_never_template_code():
    ctx = {"Attributes.note": ["{{User.UserId}} <b>"], "User.UserId": "u1"}
    assert render("{{Attributes.note}}", ctx, html=False) == "{{User.UserId}} <b>"
    assert render("{{Attributes.note}}", ctx) == "{{User.UserId}} &lt;b&gt;"


def test_html_parts_escape_and_text_parts_do_not():
    t = EmailTemplate(Subject="{{x}}", HtmlPart="{{x}}|{{{x}}}", TextPart="{{x}}")
    ctx = {"x": "<a href='#'>&"}
    assert render(t, ctx, part="HtmlPart") == "&lt;a href&#x3D;&#x27;#&#x27;&gt;&amp;|" + ctx["x"]
    assert render(t, ctx, part="TextPart") == ctx["x"]
    assert render(t, ctx, part="Subject") == ctx["x"]
    assert render(SMSTemplate(Body="{{x}}"), ctx) == ctx["x"]


def test_numbers_print_like_javascript():
    assert render("{{a}} {{b}} {{c}}", {"a": 7.0, "b": 2.5, "c": True}) == "7 2.5 true"


def test_missing_variables_use_default_substitutions_else_empty():
    t = SMSTemplate(
        Body="Hi {{User.UserAttributes.FirstName.[0]}}{{Attributes.x}}!",
        DefaultSubstitutions='{"User.UserAttributes.FirstName": "there"}',
    )
    assert render(t, {}) == "Hi there!"
    assert render(t, {"User.UserAttributes.FirstName": ["Ada"]}) == "Hi Ada!"


def test_nested_default_substitutions_fill_batch_rows(endpoints):
    t = SMSTemplate(
        Body="Hi {{User.UserAttributes.FirstName}}",
        DefaultSubstitutions={"User": {"UserAttributes": {"FirstName": "friend"}}},
    )
    out = render_batch(None, t, endpoints)
    assert out["Body"].tolist() == ["Hi ada", "Hi alan", "Hi friend"]


def test_standalone_block_lines_leave_no_blank_lines():
    src = "<ul>\n  {{#each items}}\n  <li>{{this}}</li>\n  {{/each}}\n</ul>\n"
    assert render(src, {"items": ["a", "b"]}) == "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n"


def test_tilde_strips_whitespace():
    assert render("a  {{~x~}}  \n b", {"x": 1}) == "a1b"


# -- models and Pinpoint JSON -----------------------------------------------------------------


def test_email_template_round_trips_pinpoint_json():
    doc = {
        "Subject": "Hi {{User.UserAttributes.FirstName}}",
        "HtmlPart": "<p>x</p>",
        "TextPart": "x",
        "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "there"}',
        "TemplateDescription": "welcome",
        "RecommenderId": "rec-1",
        "Headers": [{"Name": "List-Unsubscribe", "Value": "<mailto:u@example.com>"}],
        "tags": {"team": "growth"},
    }
    t = EmailTemplate.from_pinpoint(doc)
    assert t.default_substitutions == {"User.UserAttributes.FirstName": "there"}
    assert t.to_pinpoint() == doc
    assert EmailTemplate.from_pinpoint(t.to_pinpoint()) == t


def test_pinpoint_get_template_response_loads_unchanged():
    from engagekit.templates import template_from_pinpoint

    response = {
        "SMSTemplateResponse": {
            "Arn": "arn:aws:mobiletargeting:us-east-1:123:templates/promo/SMS",
            "Body": "Hi {{Id}}",
            "CreationDate": "2024-01-01T00:00:00Z",
            "LastModifiedDate": "2024-01-02T00:00:00Z",
            "TemplateName": "promo",
            "TemplateType": "SMS",
            "Version": "3",
        }
    }
    t = template_from_pinpoint(response)
    assert isinstance(t, SMSTemplate) and t.body == "Hi {{Id}}"
    assert t.to_pinpoint() == {"Body": "Hi {{Id}}"}


def test_push_template_maps_images_to_platform_blocks_and_back():
    t = PushTemplate(
        Title="Hi",
        Body="{{Attributes.plan}}",
        Action="DEEP_LINK",
        Url="app://x/{{Id}}",
        ImageUrl="https://i/x.png",
        MediaUrl="https://m/y.mp4",
    )
    doc = t.to_pinpoint()
    assert doc["Default"] == {
        "Action": "DEEP_LINK",
        "Body": "{{Attributes.plan}}",
        "Title": "Hi",
        "Url": "app://x/{{Id}}",
    }
    assert doc["GCM"] == {"ImageUrl": "https://i/x.png"}
    assert doc["APNS"] == {"MediaUrl": "https://m/y.mp4"}
    assert PushTemplate.from_pinpoint(doc) == t


def test_voice_and_inapp_templates_validate_with_botocore():
    from engagekit.templates import InAppTemplate

    v = VoiceTemplate(
        Body="Hello {{User.UserAttributes.FirstName}}", LanguageCode="en-US", VoiceId="Joanna"
    )
    assert VoiceTemplate.from_pinpoint(v.to_pinpoint()) == v
    content = [
        {
            "HeaderConfig": {"Alignment": "CENTER", "Header": "Hi {{Id}}", "TextColor": "#000"},
            "BodyConfig": {"Alignment": "LEFT", "Body": "Body", "TextColor": "#000"},
        }
    ]
    i = InAppTemplate(Content=content, Layout="TOP_BANNER")
    assert set(i.parts()) == {"Content.0.Header", "Content.0.Body"}
    assert InAppTemplate.from_pinpoint(i.to_pinpoint()) == i
    with pytest.raises(Exception, match="Layout"):
        InAppTemplate.from_pinpoint({"Content": content, "Layout": "SIDEWAYS"})


def test_sender_id_rules():
    with pytest.raises(ValueError, match="1-11 letters or digits"):
        SMSTemplate(Body="x", SenderId="MY SHOP")
    with pytest.raises(ValueError, match="at least one letter"):
        SMSTemplate(Body="x", SenderId="12345")
    with pytest.raises(ValueError, match="1-11"):
        SMSTemplate(Body="x", SenderId="ABCDEFGHIJKL")
    assert SMSTemplate(Body="x", SenderId="ACME2024").sender_id == "ACME2024"


def test_bad_default_substitutions_json_names_the_field():
    with pytest.raises(DefinitionError, match="DefaultSubstitutions"):
        SMSTemplate.from_pinpoint({"Body": "x", "DefaultSubstitutions": "{not json"})


# -- store ------------------------------------------------------------------------------------


def test_store_versions_list_rollback_and_pinning(project):
    v1 = save_template(project, "welcome", EmailTemplate(Subject="v1"))
    v2 = save_template(project, "welcome", EmailTemplate(Subject="v2"), comment="shorter")
    save_template(project, "sms-promo", SMSTemplate(Body="hi"))
    assert (v1, v2) == (1, 2)
    assert load_template(project, "welcome").subject == "v2"
    assert load_template(project, "welcome", version=1).subject == "v1"
    listing = list_templates(project)
    assert listing[["name", "type", "active_version"]].values.tolist() == [
        ["sms-promo", "SMS", 1],
        ["welcome", "EMAIL", 2],
    ]
    assert rollback_template(project, "welcome") == 1
    assert load_template(project, "welcome").subject == "v1"
    versions = template_versions(project, "welcome")
    assert versions["active"].tolist() == [True, False]
    assert versions["comment"].tolist()[1] == "shorter"


def test_store_refuses_bad_names_and_templates_that_do_not_compile(project):
    with pytest.raises(DefinitionError, match="must start with a letter or digit"):
        save_template(project, "-bad name", SMSTemplate(Body="x"))
    with pytest.raises(TemplateError, match="never closed"):
        save_template(project, "broken", SMSTemplate(Body="{{#if x}}"))
    with pytest.raises(NotFoundError, match="broken"):
        load_template(project, "broken")


# -- direct tree compilation ------------------------------------------------------------------

TREE_CORPUS = [
    ("a {{x.y}} {{{z}}} {{join l 's\"q' prefix='x\\ny' suffix=(eq a 1)}}", {"a": 1, "l": [1, 2]}),
    ("{{#if a}}A{{else if b}}B{{else}}C{{/if}}{{^x}}n{{/x}}{{#a.b}}s{{/a.b}}", {"b": 1}),
    ("{{#* inline 'p'}}[{{k}}]{{/inline}}{{> p}} {{> p k=1}}{{{{raw}}}}{{x}}{{{{/raw}}}}", {}),
    ("{{#each l}}{{../a}} {{@index}} {{@root.x}} {{this}} {{.}}{{/each}}", {"l": [1, 2], "x": 3}),
    ("{{a.[0]}} {{User.UserAttributes.[Last Name].[0]}} {{./c}} \\{{x}}", {"a": ["q"], "c": 4}),
    (
        "{{dateFormat d tz=America/Los_Angeles}} {{inflect 2 cat cats}} {{add 1 2.5}}",
        {"d": "2020-01-02T03:04:05Z"},
    ),
]


@pytest.mark.parametrize(("source", "context"), TREE_CORPUS)
def test_direct_tree_compiles_like_pybars_parsing_the_emitted_source(source, context):
    from engagekit.templates import _parse as P
    from engagekit.templates._compile import HELPERS, compile_part, compile_source

    part = compile_part(source, html=True)
    alias = part.alias
    via_source = compile_source(P.emit(part.parsed.nodes, alias), True)
    expected = via_source(context, helpers=HELPERS, partials=part.partials)
    assert part.render(context) == expected


def test_docstring_examples_run():
    import doctest

    import engagekit.templates as T
    from engagekit.templates import _analysis, _context, _models, limits, recommendations

    for module in (T, _analysis, _context, _models, limits, recommendations, T.helpers):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, module.__name__


def test_the_pybars3_gaps_engagekit_closes_exist_in_plain_pybars3():
    """If a pybars3 release fixes one of these, the workaround can go."""
    import pybars

    plain = pybars.Compiler()
    chain = plain.compile("{{#if a}}A{{else if b}}B{{else}}C{{/if}}")
    assert chain({"a": False, "b": True}) == "C"  # the wrong branch, silently
    for source in ('{{h s="x"}}', '{{#* inline "n"}}x{{/inline}}', "{{#a.b}}x{{/a.b}}"):
        with pytest.raises(pybars.PybarsError):
            plain.compile(source)
    with pytest.raises(TypeError):
        plain.compile("{{> p}}")({}, partials={"p": "a string partial"})
    assert plain.compile("{{l}}")({"l": ["a", "b"]}) == "[&#x27;a&#x27;, &#x27;b&#x27;]"
    assert plain.compile("{{#each l}}x{{/each}}")({"l": list(range(20))}) == "x" * 20
