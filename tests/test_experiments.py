"""Allocation by hash buckets: shares, stickiness, stability, SRM."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagekit.errors import DefinitionError
from engagekit.experiments import (
    BUCKETS,
    Allocation,
    Arm,
    allocate,
    buckets,
    endpoint_buckets,
    hash_units,
    reference_hash,
    srm_check,
    unit_keys,
)

# Pinned values of the ek64 hash: changing them reshuffles every running experiment.
GOLDEN = {
    "user-00000001": 15711988992727050808,
    "ep-1": 6393007280793284719,
    "": 3865046408956973937,
    "Zoë": 7775893628284447668,
    "日本語テキスト長い文字列です": 9592018353708752101,
}
UNSALTED = {"user-00000001": 14039852258547204476, "ep-1": 5066070113856862533}
AB_ARMS = [Arm("holdout", 10, holdout=True)] + [Arm(str(i), 18) for i in range(5)]


def _users(n: int, prefix: str = "user-") -> pd.Series:
    return pd.Series([f"{prefix}{i}" for i in range(n)], dtype="string")


def test_hash_matches_pinned_golden_values():
    got = hash_units(pd.Series(list(GOLDEN), dtype="string"), "spring-sale")
    assert [int(v) for v in got] == list(GOLDEN.values())
    assert all(reference_hash(k, "spring-sale") == v for k, v in GOLDEN.items())
    keys = unit_keys(pd.Series(list(UNSALTED), dtype="string"))
    assert [int(v) for v in keys] == list(UNSALTED.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30), st.text(max_size=12))
def test_vectorized_hash_equals_the_plain_python_specification(ids, salt):
    got = hash_units(pd.Series(ids, dtype="string"), salt)
    assert [int(v) for v in got] == [reference_hash(i, salt) for i in ids]


def test_realized_shares_are_within_one_point_of_the_design_for_20k_users():
    b = buckets(_users(20_000), "share-check")
    arms = pd.Series(allocate(b, AB_ARMS)).value_counts(normalize=True)
    design = {a.name: a.percent / 100 for a in AB_ARMS}
    for name, share in design.items():
        assert abs(arms[name] - share) <= 0.01, (name, arms[name], share)


def test_all_endpoints_of_a_user_share_an_arm():
    users = [f"u{i}" for i in range(3_000)]
    frame = pd.DataFrame(
        {
            "Id": [f"ep-{u}-{k}" for u in users for k in range(3)],
            "User.UserId": [u for u in users for _ in range(3)],
        }
    )
    arm = pd.Series(allocate(endpoint_buckets(frame, "salt"), AB_ARMS))
    per_user = arm.groupby(frame["User.UserId"]).nunique()
    assert (per_user == 1).all()


def test_endpoints_without_user_id_fall_back_to_their_endpoint_id():
    frame = pd.DataFrame({"Id": ["a", "b"], "User.UserId": pd.array([None, ""], dtype="string")})
    assert list(endpoint_buckets(frame, "s")) == list(buckets(pd.Series(["a", "b"]), "s"))


def test_adding_endpoints_later_moves_no_one():
    before = pd.DataFrame({"Id": [f"e{i}" for i in range(5_000)], "User.UserId": _users(5_000)})
    more = pd.DataFrame(
        {"Id": [f"e{i}" for i in range(5_000, 9_000)], "User.UserId": _users(4_000, "new-")}
    )
    after = pd.concat([more.iloc[:2_000], before, more.iloc[2_000:]], ignore_index=True)
    arm_before = pd.Series(allocate(endpoint_buckets(before, "s"), AB_ARMS), index=before["Id"])
    arm_after = pd.Series(allocate(endpoint_buckets(after, "s"), AB_ARMS), index=after["Id"])
    assert arm_after.loc[before["Id"]].tolist() == arm_before.tolist()


def test_assignment_is_stable_across_processes():
    code = (
        "import pandas as pd; from engagekit.experiments import buckets;"
        "print(','.join(map(str, buckets(pd.Series([f'user-{i}' for i in range(500)]), 'x'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.strip()
    assert out == ",".join(map(str, buckets(_users(500), "x")))


def test_different_salts_give_independent_assignments():
    users = _users(20_000)
    a = pd.Series(allocate(buckets(users, "campaign-a"), AB_ARMS))
    b = pd.Series(allocate(buckets(users, "campaign-b"), AB_ARMS))
    same = (a == b).mean()
    expected = sum((x.percent / 100) ** 2 for x in AB_ARMS)  # chance agreement
    assert abs(same - expected) < 0.02


def test_resizing_treatments_does_not_move_the_holdout():
    b = buckets(_users(10_000), "resize")
    first = allocate(b, [Arm("holdout", 10, holdout=True), Arm("0", 45), Arm("1", 45)])
    second = allocate(b, [Arm("0", 20), Arm("1", 70), Arm("holdout", 10, holdout=True)])
    assert ((np.asarray(first) == "holdout") == (np.asarray(second) == "holdout")).all()


def test_arm_boundaries_cover_all_buckets_in_proportion():
    alloc = Allocation(tuple(AB_ARMS))
    assert alloc.starts[0] == 0 and alloc.ends[-1] == BUCKETS
    assert alloc.shares() == {a.name: a.percent / 100 for a in AB_ARMS}
    assert list(alloc.assign(np.array([0, 999, 1000, 9999]))) == ["holdout", "holdout", "0", "4"]


def test_allocation_not_summing_to_100_is_refused():
    with pytest.raises(DefinitionError, match="must sum to 100, got 90"):
        Allocation((Arm("0", 50), Arm("1", 40)))


def test_srm_check_flags_a_broken_split_and_passes_a_fair_one():
    b = buckets(_users(20_000), "srm")
    counts = pd.Series(allocate(b, AB_ARMS)).value_counts()
    design = {a.name: a.percent for a in AB_ARMS}
    assert not srm_check(counts, design).flagged
    broken = counts.copy()
    broken["holdout"] = int(broken["holdout"] * 0.85)
    result = srm_check(broken, design)
    assert result.flagged and result.p_value < 0.001


def test_unit_keys_of_chunked_sliced_and_null_strings_follow_the_specification():
    values = ["a", None, "", "héllo wörld 123456789", "x" * 17, "abc"]
    chunked = pa.chunked_array(
        [pa.array(values[:2]), pa.array(values[2:4]).slice(1), pa.array(values[4:])]
    )
    expected = [reference_hash(v or "") for v in values[:2] + values[3:]]
    assert [int(k) for k in unit_keys(chunked)] == expected
    assert unit_keys(pa.array(["q", "q"]).dictionary_encode()).tolist() == [reference_hash("q")] * 2
