"""Serving: Pinpoint's recommender configuration and the model-backed RecommendationProvider."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from engagekit import pinpoint
from engagekit.errors import DefinitionError
from engagekit.templates import (
    EmailTemplate,
    RecommendationProvider,
    RecommenderConfig,
    render_batch,
)
from recommenders import (
    ItemKNNRecommender,
    ModelRecommendationProvider,
    PopularityRecommender,
    RecommenderConfiguration,
    RecommenderError,
    interactions_from_events,
    make_catalog,
)


def _interactions() -> pd.DataFrame:
    rows = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "c"), ("u3", "a"), ("u3", "b"),
            ("u3", "d"), ("u4", "e"), ("u4", "a")]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def _catalog(out_of_stock: tuple[str, ...] = ()) -> pd.DataFrame:
    items = ["a", "b", "c", "d", "e", "f"]
    return make_catalog(
        pd.DataFrame(
            {
                "item_id": items,
                "title": [f"Item {i.upper()}" for i in items],
                "url": [f"https://shop.example/{i}" for i in items],
                "price": [9.5, 20.0, 3.25, 7.0, 1.0, 99.0],
                "in_stock": [i not in out_of_stock for i in items],
            }
        )
    )


def _config(**kw) -> RecommenderConfiguration:
    return RecommenderConfiguration(
        RecommendationsPerMessage=kw.pop("per", 3),
        Attributes={"Recommendations.Title": "title", "Recommendations.Price": "price"},
        **kw,
    )


def test_configuration_uses_pinpoint_field_names_and_round_trips() -> None:
    config = _config(
        Name="movies",
        RecommendationProviderIdType="PINPOINT_USER_ID",
        RecommendationProviderUri="model://movies/2",
        RecommendationProviderRoleArn="arn:aws:iam::123456789012:role/engagekit",
    )
    doc = config.model_dump(by_alias=True, exclude_none=True)
    known = set(pinpoint.shape("CreateRecommenderConfiguration").members)
    assert set(doc) <= known
    assert RecommenderConfiguration.model_validate_json(config.model_dump_json()) == config
    assert config.to_pinpoint()["RecommendationsPerMessage"] == 3
    assert config.model_reference() == ("movies", 2)
    assert isinstance(config, RecommenderConfig)  # engagekit's renderer takes it as is


def test_configuration_needs_provider_uri_and_role_for_pinpoint() -> None:
    with pytest.raises(DefinitionError, match="RecommendationProviderRoleArn"):
        _config(RecommendationProviderUri="model://movies").to_pinpoint()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"RecommendationsPerMessage": 6}, "less than or equal to 5"),
        ({"RecommendationsPerMessage": 0}, "greater than or equal to 1"),
        ({"RecommendationProviderIdType": "EMAIL"}, "PINPOINT_ENDPOINT_ID"),
        ({"Attributes": {"Title": "title"}}, "must look like 'Recommendations.Title'"),
        ({"RecommendationTransformerUri": "not a path"}, "package.module:function"),
    ],
)
def test_configuration_rejects_what_pinpoint_rejects(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        RecommenderConfiguration(**fields)


def test_provider_uri_must_name_a_model() -> None:
    with pytest.raises(RecommenderError, match="model://<name>"):
        RecommenderConfiguration(
            RecommendationProviderUri="arn:aws:personalize:x"
        ).model_reference()


def test_provider_fills_blocks_and_skips_seen_items() -> None:
    model = ItemKNNRecommender().fit(_interactions())
    provider = ModelRecommendationProvider(model, _catalog(), _config())
    got = provider.item_ids(["u1", "u2"], 3)
    assert [len(v) for v in got.values()] == [3, 3]
    assert not {"a", "b"} & set(got["u1"])
    assert provider.item_ids(["u1"])["u1"] == got["u1"]  # n defaults to RecommendationsPerMessage


def test_cold_ids_get_popular_items_never_an_empty_block() -> None:
    model = ItemKNNRecommender().fit(_interactions())
    provider = ModelRecommendationProvider(model, _catalog(), _config(per=5))
    recs = provider.recommendations(["stranger"])
    assert recs["item"].tolist()[:2] == ["a", "b"]  # most users first
    assert len(recs) == 5 and (recs["source"] == "popular").all()
    # items in the catalog that no one interacted with still fill a block, last
    topped = provider.recommendations(["u4"])
    assert topped["item"].tolist() == ["b", "c", "d", "f", "a"]  # seen "a" only as last resort
    assert topped["source"].tolist() == ["model"] * 3 + ["popular"] * 2


def test_out_of_stock_and_unknown_items_are_never_recommended() -> None:
    model = PopularityRecommender().fit(
        pd.concat([_interactions(), pd.DataFrame({"user_id": ["u9"], "item_id": ["gone"]})])
    )
    provider = ModelRecommendationProvider(model, _catalog(out_of_stock=("a", "c")), _config())
    got = provider.item_ids(["u1", "u2", "stranger"], 3)
    recommended = {i for items in got.values() for i in items}
    assert not {"a", "c", "gone"} & recommended
    assert all(len(v) == 3 for v in got.values())


def test_already_bought_items_are_excluded_per_id() -> None:
    model = PopularityRecommender().fit(_interactions())
    plain = ModelRecommendationProvider(model, _catalog(), _config())
    first = plain.item_ids(["u2"], 1)["u2"][0]
    bought = pd.DataFrame({"id": ["u2"], "item": [first]})
    provider = ModelRecommendationProvider(model, _catalog(), _config(), exclude=bought)
    assert first not in provider.item_ids(["u2"], 3)["u2"]
    assert provider.item_ids(["u1"], 1) == plain.item_ids(["u1"], 1)


def test_a_user_who_saw_everything_still_gets_a_full_block() -> None:
    everything = pd.DataFrame({"user_id": "u1", "item_id": list("abcdef")})
    model = ItemKNNRecommender().fit(everything)
    provider = ModelRecommendationProvider(model, _catalog(), _config(per=4))
    assert len(provider.item_ids(["u1"])["u1"]) == 4


def test_context_maps_attributes_from_catalog_columns() -> None:
    model = PopularityRecommender().fit(_interactions())
    provider = ModelRecommendationProvider(model, _catalog(), _config(per=2))
    ctx = provider.context(["u4"])["u4"]
    assert ctx["RecommendationItems"] == ["b", "c"]
    assert ctx["Recommendations"] == {"Title": ["Item B", "Item C"], "Price": ["20.0", "3.25"]}
    # the provider's catalog exposes the attribute names too, for engagekit's renderer
    assert provider.catalog.loc["b", "Title"] == "Item B"


def test_display_name_values_fall_back_to_the_attribute_name_as_column() -> None:
    catalog = _catalog().rename(columns={"title": "Title"})
    config = RecommenderConfiguration(Attributes={"Recommendations.Title": "Product name"})
    model = PopularityRecommender().fit(_interactions())
    ctx = ModelRecommendationProvider(model, catalog, config).context(["x"], 1)["x"]
    assert ctx["Recommendations"]["Title"] == ["Item A"]


def test_missing_attribute_columns_are_reported_with_the_catalog_columns() -> None:
    config = RecommenderConfiguration(Attributes={"Recommendations.Image": "image_url"})
    model = PopularityRecommender().fit(_interactions())
    with pytest.raises(RecommenderError, match=r"lacks column\(s\) \['Image'\]"):
        ModelRecommendationProvider(model, _catalog(), config)


def test_transformer_callable_rewrites_attributes() -> None:
    def money(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(Price=frame["Price"].map(lambda p: f"${p:.2f}"))

    model = PopularityRecommender().fit(_interactions())
    provider = ModelRecommendationProvider(model, _catalog(), _config(per=2), transformer=money)
    assert provider.context(["u4"])["u4"]["Recommendations"]["Price"] == ["$20.00", "$3.25"]
    with pytest.raises(RecommenderError, match="not both"):
        ModelRecommendationProvider(
            model, _catalog(), _config(transformer=money), transformer=money
        )


def test_transformer_uri_is_imported() -> None:
    config = _config(RecommendationTransformerUri="tests.no_such_module:fn")
    model = PopularityRecommender().fit(_interactions())
    with pytest.raises(RecommenderError, match="cannot be imported"):
        ModelRecommendationProvider(model, _catalog(), config)
    config = _config(RecommendationTransformerUri="copy:copy")
    provider = ModelRecommendationProvider(model, _catalog(), config)
    assert provider.context(["u1"], 1)["u1"]["RecommendationItems"] == ["c"]


def test_attribute_values_are_cut_to_pinpoints_100_characters() -> None:
    catalog = _catalog().assign(title="x" * 300)
    model = PopularityRecommender().fit(_interactions())
    ctx = ModelRecommendationProvider(model, catalog, _config()).context(["u1"])
    assert {len(t) for t in ctx["u1"]["Recommendations"]["Title"]} == {100}


def test_provider_needs_a_fitted_model_and_an_item_in_stock() -> None:
    with pytest.raises(RecommenderError, match="not fitted yet"):
        ModelRecommendationProvider(PopularityRecommender(), _catalog())
    model = PopularityRecommender().fit(_interactions())
    with pytest.raises(RecommenderError, match="no item in stock"):
        ModelRecommendationProvider(model, _catalog(out_of_stock=tuple("abcdef")))


def test_purchases_from_events_exclude_already_bought_items() -> None:
    model = PopularityRecommender().fit(_interactions())
    events = pd.DataFrame(
        {
            "event_type": ["_monetization.purchase"],
            "event_timestamp": pd.to_datetime(["2026-02-01"], utc=True),
            "user_id": ["u4"],
            "endpoint_id": ["e4"],
            "product_id": ["b"],
        }
    )
    bought = interactions_from_events(events)
    provider = ModelRecommendationProvider(model, _catalog(), _config(), exclude=bought)
    assert "b" not in provider.item_ids(["u4"], 3)["u4"]


# -- with engagekit's template renderer ------------------------------------------------------------
def _endpoints() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Id": ["e1", "e2", "e3"],
            "ChannelType": "EMAIL",
            "Address": ["a@example.com", "b@example.com", "c@example.com"],
            "User.UserId": ["u1", "u2", "stranger"],
        }
    )


def _email() -> EmailTemplate:
    return EmailTemplate(
        Subject="{{Recommendations.Title.[0]}} is waiting",
        HtmlPart="<ul>{{#each Recommendations.Title}}<li>{{this}}</li>{{/each}}</ul>",
        TextPart="First pick: {{RecommendationItems.[0]}}",
    )


@pytest.mark.parametrize("engine", ["rows", "auto"])
def test_render_batch_fills_recommendations_from_the_model(engine: str) -> None:
    model = ItemKNNRecommender().fit(_interactions())
    config = _config(RecommendationProviderIdType="PINPOINT_USER_ID")
    provider = ModelRecommendationProvider(model, _catalog(), config)
    assert isinstance(provider, RecommendationProvider)
    out = render_batch(None, _email(), _endpoints(), provider, engine=engine)
    assert out["render_error"].isna().all()
    picks = provider.item_ids(["u1", "u2", "stranger"])
    titles = provider.catalog["title"]
    for row, user in zip(out.itertuples(), ["u1", "u2", "stranger"], strict=True):
        assert row.Subject == f"{titles[picks[user][0]]} is waiting"
        assert (
            row.HtmlPart == "<ul>" + "".join(f"<li>{titles[i]}</li>" for i in picks[user]) + "</ul>"
        )
        assert row.TextPart == f"First pick: {picks[user][0]}"


def test_render_batch_by_endpoint_id_uses_the_endpoint_ids() -> None:
    interactions = _interactions().assign(user_id=lambda d: d["user_id"].str.replace("u", "e"))
    model = PopularityRecommender().fit(interactions)
    provider = ModelRecommendationProvider(model, _catalog(), _config(per=1))
    assert provider.id_type == "PINPOINT_ENDPOINT_ID"
    out = render_batch(None, _email(), _endpoints(), provider, engine="rows")
    assert out["TextPart"].tolist() == ["First pick: c", "First pick: b", "First pick: c"]


def test_serving_a_saved_model_with_another_catalog_warns(tmp_path) -> None:
    from recommenders import CatalogMismatchWarning, save_model

    model = PopularityRecommender().fit(_interactions())
    save_model(model, tmp_path, "shop", catalog=_catalog())
    config = _config(RecommendationProviderUri="model://shop")
    ModelRecommendationProvider.from_configuration(config, tmp_path, _catalog())  # silent
    bigger = make_catalog(pd.concat([_catalog().reset_index(), pd.DataFrame({"item_id": ["z"]})]))
    with pytest.warns(
        CatalogMismatchWarning,
        match=r"\(6 items\) but .* \(7 items\): 0 of .* 2 of its items are unknown",
    ):
        provider = ModelRecommendationProvider.from_configuration(config, tmp_path, bigger)
    assert len(provider.item_ids(["u1"])["u1"]) == 3


def test_a_saved_configuration_serves_its_pinned_model_from_the_project(project) -> None:
    from recommenders import load_recommender, save_model, save_recommender

    model = PopularityRecommender().fit(_interactions())
    v1 = save_model(model, project, "shop", catalog=_catalog()).version
    save_model(ItemKNNRecommender().fit(_interactions()), project, "shop")  # v2, not pinned
    config = _config(Name="weekly", RecommendationProviderUri=f"model://shop/{v1}")
    assert save_recommender(project, config) == 1
    assert load_recommender(project, "weekly") == config
    provider = ModelRecommendationProvider.from_project(project, "weekly", _catalog())
    assert isinstance(provider.model, PopularityRecommender)
    assert provider.model.model_info_.version == v1
    with pytest.raises(RecommenderError, match="needs a Name"):
        save_recommender(project, _config())
    with pytest.raises(RecommenderError, match="cannot be saved"):
        save_recommender(project, _config(Name="x", transformer=lambda f: f))
    with pytest.raises(RecommenderError, match="no saved recommender configuration"):
        load_recommender(project, "nope")
