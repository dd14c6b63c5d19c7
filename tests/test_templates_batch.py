"""render_batch: the fast engine against the row-by-row reference, limits, recommendations."""

from __future__ import annotations

import pandas as pd
import pytest

from engagekit.endpoints import normalize_endpoints
from engagekit.sample import generate_endpoints
from engagekit.templates import (
    CatalogRecommendationProvider,
    EmailTemplate,
    PushTemplate,
    RecommenderConfig,
    SMSTemplate,
    render,
    render_batch,
    sms_segments,
)
from engagekit.templates.limits import ChannelLimits


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_endpoints(400, seed=5)


CASES = [
    EmailTemplate(
        Subject="Hi {{capitalize User.UserAttributes.FirstName}} {{Attributes.plan.[0]}}",
        HtmlPart="<p>{{Location.City}} & {{Id}} {{Metrics.visits}} {{{Address}}}</p>"
        "{{#each Attributes.interests}}<i>{{@index}}{{this}}{{#if @last}}!{{/if}}</i>"
        "{{else}}none{{/each}}",
        TextPart="{{#if (eq Attributes.plan.[0] 'pro')}}PRO {{upper Location.Country}}"
        "{{else if (gt Metrics.visits 6)}}busy {{Metrics.visits}}{{else}}"
        "{{lower Demographic.Platform}}{{/if}}",
    ),
    EmailTemplate(
        Subject="{{#unless Attributes.plan}}x{{else}}{{Attributes.plan}}{{/unless}}",
        TextPart="{{#each Attributes.interests}}{{../Location.City}}-{{this}} {{/each}}"
        "{{#Location}}{{City}}/{{Country}}{{/Location}} {{Attributes}} {{@root.Id}}",
        DefaultSubstitutions={"Attributes.plan": "basic", "Location.Region": "?"},
    ),
    SMSTemplate(
        Body="{{#* inline 'n'}}{{User.UserAttributes.FirstName}} "
        "{{User.UserAttributes.LastName.[0]}}{{/inline}}Hi {{> n}}, "
        "{{ordinalize Metrics.purchases}} visit {{#each Attributes.interests}}{{this}},{{/each}}"
    ),
]


@pytest.mark.parametrize("template", CASES, ids=["email", "sections-defaults", "sms-partial"])
def test_fast_engine_matches_row_by_row_reference(frame, template):
    fast = render_batch(None, template, frame)
    rows = render_batch(None, template, frame, engine="rows")
    pd.testing.assert_frame_equal(fast, rows)
    assert fast["render_error"].isna().all()


def test_volatile_helpers_render_per_message(frame):
    out = render_batch(None, SMSTemplate(Body="{{uuid}}"), frame)
    assert out["Body"].nunique() == len(frame)


def test_helper_errors_name_the_endpoint_and_do_not_stop_the_batch():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["a", "b"], "Attributes.n": [["4"], ["x"]]}))
    out = render_batch(None, SMSTemplate(Body="{{add Attributes.n 1}}"), eps)
    assert out["Body"].tolist()[0] == "5"
    assert pd.isna(out["Body"].iloc[1])
    assert "endpoint 'b'" in out["render_error"].iloc[1]
    assert "add expects a number" in out["render_error"].iloc[1]


# -- channel limits ----------------------------------------------------------------------------


def test_sms_segments_gsm7_and_ucs2():
    assert sms_segments("a" * 160).segments == 1
    assert sms_segments("a" * 161).segments == 2
    assert sms_segments("a" * 306).segments == 2
    assert sms_segments("a" * 307).segments == 3
    assert sms_segments("€" * 80).units == 160  # extension characters cost two septets
    assert sms_segments("é" * 70).encoding == "GSM-7"
    assert sms_segments("ü" * 70 + "ł").encoding == "UCS-2"
    assert sms_segments("ł" * 70).segments == 1
    assert sms_segments("ł" * 71).segments == 2
    assert sms_segments("😀" * 34).units == 68  # surrogate pairs count twice


def test_sms_too_long_fails_at_render_naming_endpoint_and_part():
    eps = normalize_endpoints(
        pd.DataFrame({"Id": ["e1", "e2"], "Attributes.t": [["short"], ["😀" * 400]]})
    )
    out = render_batch(None, SMSTemplate(Body="{{Attributes.t}}"), eps)
    assert out["Segments"].tolist()[0] == 1
    assert out["Encoding"].tolist()[0] == "GSM-7"
    err = out["render_error"].iloc[1]
    assert "endpoint 'e2'" in err and "part Body" in err and "segments" in err


def test_email_subject_is_required():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1", "e2"], "Attributes.s": [["Hi"], None]}))
    out = render_batch(None, EmailTemplate(Subject="{{Attributes.s}}", TextPart="x"), eps)
    assert out["Subject"].iloc[0] == "Hi"
    assert "email subject is empty" in out["render_error"].iloc[1]


def test_push_title_and_body_limits_are_configurable():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1"], "Attributes.t": [["x" * 60]]}))
    t = PushTemplate(Title="{{Attributes.t}}", Body="ok")
    assert render_batch(None, t, eps)["render_error"].isna().all()
    out = render_batch(None, t, eps, limits=ChannelLimits(push_title_max=50))
    assert "push title has 60 characters; the limit is 50" in out["render_error"].iloc[0]


# -- recommendations ---------------------------------------------------------------------------

CATALOG = pd.DataFrame(
    {"Title": ["Toy Story", "Heat", "Fargo", "x" * 150], "Genre": ["Kids", "Crime", "Crime", "?"]},
    index=["1", "2", "3", "4"],
)


def test_recommendation_attributes_render_like_pinpoint():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1", "e2"], "User.UserId": ["u1", "u2"]}))
    config = RecommenderConfig(
        RecommendationsPerMessage=2, Attributes={"Recommendations.Title": "Title"}
    )
    provider = CatalogRecommendationProvider(CATALOG, {"e1": ["3", "1", "2"]}, config=config)
    t = EmailTemplate(
        Subject="{{Recommendations.Title.[0]}} ({{RecommendationItems.[0]}})",
        TextPart="{{#each Recommendations.Title}}{{this}};{{/each}}",
    )
    out = render_batch(None, t, eps, provider)
    assert out["Subject"].tolist() == ["Fargo (3)", "Toy Story (1)"]  # e2: catalog default
    assert out["TextPart"].tolist() == ["Fargo;Toy Story;", "Toy Story;Heat;"]


def test_recommendation_values_are_capped_at_100_characters_and_transformed():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1"], "User.UserId": ["u1"]}))

    def shout(frame: pd.DataFrame) -> pd.DataFrame:
        frame["Genre"] = frame["Genre"].str.upper()
        return frame

    config = RecommenderConfig(
        RecommendationProviderIdType="PINPOINT_USER_ID", RecommendationsPerMessage=1
    )
    provider = CatalogRecommendationProvider(
        CATALOG, {"u1": ["4"]}, config=config, transformer=shout
    )
    t = SMSTemplate(Body="{{Recommendations.Title.[0]}}|{{Recommendations.Genre.[0]}}")
    body = render_batch(None, t, eps, provider)["Body"].iloc[0]
    assert body == "x" * 100 + "|?"
    provider2 = CatalogRecommendationProvider(
        CATALOG, {"u1": ["2"]}, config=config, transformer=shout
    )
    assert render_batch(None, t, eps, provider2)["Body"].iloc[0] == "Heat|CRIME"


def test_recommender_config_checks_pinpoint_rules():
    with pytest.raises(ValueError, match="less than or equal to 5"):
        RecommenderConfig(RecommendationsPerMessage=6)
    with pytest.raises(ValueError, match=r"Recommendations\.Title"):
        RecommenderConfig(Attributes={"Title": "x"})
    doc = RecommenderConfig(
        RecommendationProviderUri="arn:aws:personalize:us-east-1:1:campaign/c",
        RecommendationProviderRoleArn="arn:aws:iam::1:role/r",
    ).to_pinpoint()
    assert doc["RecommendationsPerMessage"] == 5


def test_render_accepts_an_endpoint_row(frame):
    row = frame.iloc[0]
    first = row["User.UserAttributes.FirstName"][0]
    assert render("{{User.UserAttributes.FirstName}}", row) == first


def test_iter_render_batch_yields_chunks_aligned_with_the_plan(frame):
    from engagekit.templates import iter_render_batch

    plan = pd.DataFrame({"endpoint_id": frame["Id"].iloc[:25], "status": "scheduled"})
    t = SMSTemplate(Body="{{Id}} {{now 'yyyy'}}")
    chunks = list(iter_render_batch(plan, t, frame, chunksize=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert whole.index.equals(plan.index)
    assert whole["Body"].str.split().str[0].tolist() == plan["endpoint_id"].tolist()
    assert whole["Body"].str.split().str[1].nunique() == 1


def test_fast_engine_handles_unusual_columns_like_the_reference():
    eps = pd.DataFrame(
        {
            "Id": ["a", "b", "c", "d"],
            "Attributes.obj": [["x", "y"], ["x", "y"], None, []],  # plain object lists
            "Attributes.nums": pd.Series(
                [[1.0, 2.5], [1.0, 2.5], [3.0], None],
                dtype=pd.ArrowDtype(__import__("pyarrow").list_(__import__("pyarrow").float64())),
            ),
            "Attributes.holes": pd.Series(
                [["p", None], ["p"], None, ["p", None]],
                dtype=pd.ArrowDtype(__import__("pyarrow").list_(__import__("pyarrow").string())),
            ),
        }
    )
    t = SMSTemplate(
        Body="{{Attributes.obj}}|{{#each Attributes.nums}}{{this}};{{/each}}|"
        "{{#each Attributes.holes}}[{{this}}]{{/each}}|{{Attributes.holes}}"
    )
    fast = render_batch(None, t, eps)
    pd.testing.assert_frame_equal(fast, render_batch(None, t, eps, engine="rows"))
    assert fast["Body"].tolist()[0] == "x,y|1;2.5;|[p][]|p,"


def test_silent_push_data_and_custom_json_payloads_render():
    from engagekit.templates import CustomTemplate

    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1", "e2"], "Attributes.t": [["a"], ['x"y']]}))
    push = PushTemplate(SilentPush=True, Data={"sku": "{{Attributes.t}}"})
    assert render_batch(None, push, eps)["Data.sku"].tolist() == ["a", 'x"y']
    custom = CustomTemplate(Payload={"id": "{{Id}}", "t": "{{Attributes.t}}"})
    out = render_batch(None, custom, eps)
    assert out["Payload"].iloc[0] == '{"id": "e1", "t": "a"}'
    assert "not valid JSON" in out["render_error"].iloc[1]  # the quote breaks the JSON


def test_push_payload_over_4kb_fails_and_tilde_triple_stash_parses():
    eps = normalize_endpoints(
        pd.DataFrame({"Id": ["e1", "e2"], "Attributes.d": [["s"], ["x" * 5000]]})
    )
    t = PushTemplate(Title="t", Body="b", Data={"blob": "{{~{Attributes.d}~}}"})
    out = render_batch(None, t, eps)
    assert out["Data.blob"].iloc[0] == "s"
    assert "push payload is about 50" in out["render_error"].iloc[1]
    assert render("a {{~{x}~}} b", {"x": "<i>"}) == "a<i>b"


def test_recommendations_with_nothing_to_render_and_missing_user_ids():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["a", "b"], "User.UserId": ["u", None]}))
    t = SMSTemplate(Body="{{Recommendations.Title.[0]}} {{RecommendationItems}}")
    excluded = pd.DataFrame({"endpoint_id": ["a"], "status": ["excluded"]})
    assert (
        render_batch(excluded, t, eps, CatalogRecommendationProvider(CATALOG))["Body"].isna().all()
    )
    by_user = RecommenderConfig(
        RecommendationProviderIdType="PINPOINT_USER_ID", RecommendationsPerMessage=2
    )
    out = render_batch(None, t, eps, CatalogRecommendationProvider(CATALOG, config=by_user))
    assert out["Body"].iloc[0] == "Toy Story 1,2"
    assert "SMS body is empty" in out["render_error"].iloc[1]


def test_recommendation_attribute_can_name_its_catalog_column_by_display_name():
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1"]}))
    catalog = CATALOG.rename(columns={"Title": "movie_title"})
    config = RecommenderConfig(Attributes={"Recommendations.Title": "movie_title"})
    provider = CatalogRecommendationProvider(catalog, {"e1": ["2"]}, config=config)
    assert (
        render_batch(None, SMSTemplate(Body="{{Recommendations.Title}}"), eps, provider)[
            "Body"
        ].iloc[0]
        == "Heat"
    )
    bad = RecommenderConfig(Attributes={"Recommendations.Plot": "Plot"})
    with pytest.raises(Exception, match="no column 'Plot'"):
        render_batch(
            None, SMSTemplate(Body="x"), eps, CatalogRecommendationProvider(catalog, config=bad)
        )


def test_movielens_catalog_feeds_titles_and_urls_into_an_email():
    from conftest import shared_path

    folder = shared_path("datasets", "movielens-100k")
    items = pd.read_csv(
        folder / "u.item",
        sep="|",
        encoding="latin-1",
        header=None,
        usecols=[0, 1, 4],
        names=["item_id", "Title", "URL"],
        dtype=str,
    )
    catalog = items.set_index("item_id")
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    counts = ratings.groupby("item").size().rename("popularity")
    catalog["popularity"] = counts.reindex(catalog.index.astype(int)).to_numpy()
    top = (
        ratings[ratings["rating"] == 5]
        .sort_values(["user", "ts"], ascending=[True, False])
        .groupby("user")
        .head(3)
    )
    picks = pd.DataFrame({"id": "u" + top["user"].astype(str), "item_id": top["item"].astype(str)})
    config = RecommenderConfig(
        RecommendationProviderIdType="PINPOINT_USER_ID",
        RecommendationsPerMessage=3,
        Attributes={"Recommendations.Title": "Title", "Recommendations.URL": "Link"},
    )
    provider = CatalogRecommendationProvider(catalog, picks, config=config)
    eps = normalize_endpoints(pd.DataFrame({"Id": ["e1", "e2"], "User.UserId": ["u1", "nobody"]}))
    t = EmailTemplate(
        Subject="{{Recommendations.Title.[0]}} and more",
        HtmlPart="{{#each Recommendations.Title}}"
        '<a href="{{lookup ../Recommendations.URL @index}}">{{this}}</a>{{/each}}',
    )
    out = render_batch(None, t, eps, provider)
    assert out["render_error"].isna().all()
    first = catalog.loc[picks.loc[picks["id"] == "u1", "item_id"].iloc[0], "Title"]
    assert out["Subject"].iloc[0] == f"{first} and more"
    assert out["HtmlPart"].iloc[0].count('<a href="http://us.imdb.com/') == 3
    assert out["Subject"].iloc[1].startswith("Star Wars (1977)")  # the most rated film
    pd.testing.assert_frame_equal(out, render_batch(None, t, eps, provider, engine="rows"))


# -- property: the fast engine equals the reference on generated templates -------------------

FRAGMENTS = [
    "{{Attributes.plan}}",
    "{{Attributes.plan.[0]}}",
    "{{{Location.City}}}",
    "{{Id}}",
    "{{User.UserAttributes.FirstName}}",
    "{{upper Location.City}}",
    "{{Metrics.visits}}",
    "{{#if Attributes.vip}}V{{else}}N{{/if}}",
    "{{add Metrics.visits 1}}",
    "<p>&'=</p>",
    "\n",
    "{{#each Attributes.interests}}{{@index}}{{this}}{{#if @last}}.{{/if}}{{else}}-{{/each}}",
    "{{#eq Attributes.plan.[0] 'pro'}}P{{else if (gt Metrics.visits 5)}}G{{else}}L{{/eq}}",
    "{{#unless Location.City}}?{{/unless}}",
    "{{#each Attributes.interests}}{{../Id}}{{/each}}",
    "{{#Location}}{{City}}{{/Location}}",
    " {{~Id~}} ",
    "{{lookup Attributes 'plan'}}",
    "{{> p}}",
    "{{Attributes}}",
    "{{#with Location}}{{Country}}{{/with}}",
]


@pytest.fixture(scope="module")
def messy() -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(7)
    n = 40
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), n)]  # noqa: E731
    return normalize_endpoints(
        pd.DataFrame(
            {
                "Id": [f"e{i % 37}" for i in range(n)],  # a few duplicated ids
                "Attributes.plan": pick([["pro"], ["free"], None, [], ["pro", "x"]]),
                "Attributes.vip": pick([["true"], None, [""]]),
                "Attributes.interests": pick([["a", "b"], ["b"], [], None, ["<c>"] * 16]),
                "Location.City": pick(["Paris", None, "Los Angeles", "A&B"]),
                "Location.Country": pick(["FR", "US", None]),
                "Metrics.visits": pick([1.0, 6.0, 2.5, None]),
                "User.UserAttributes.FirstName": pick([["Ada"], ["{{Id}}"], None]),
            }
        )
    )


def _program(draw, depth: int = 0) -> str:
    from hypothesis import strategies as st

    parts = draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5))
    if depth < 2 and draw(st.booleans()):
        cond = draw(
            st.sampled_from(
                ["Attributes.vip", "(eq Location.Country 'US')", "Attributes.interests"]
            )
        )
        inner = _program(draw, depth + 1)
        parts.insert(draw(st.integers(0, len(parts))), f"{{{{#if {cond}}}}}{inner}{{{{/if}}}}")
    return "".join(parts)


def test_fast_engine_equals_reference_on_generated_templates(messy):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        source = _program(data.draw)
        t = EmailTemplate(Subject="s", HtmlPart=source, TextPart=source)
        partials = {"p": "[{{Location.Country}}|{{Attributes.plan}}]"}
        fast = render_batch(None, t, messy, partials=partials)
        rows = render_batch(None, t, messy, partials=partials, engine="rows")
        pd.testing.assert_frame_equal(fast, rows)

    check()
