"""Pinpoint's import semantics as pure functions over Arrow tables (no I/O).

:func:`merge_snapshot` applies validated incoming rows to the current snapshot: a given ``Id``
updates that endpoint (given fields replace, absent ones stay), a missing ``Id`` is found by
channel and address or derived from them, a new endpoint needs ``Address`` and
``ChannelType``, a user keeps at most 10 endpoints, and among ACTIVE endpoints sharing a
channel and address only the most recently updated stays ACTIVE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints._frame import arrow_type
from engagekit.endpoints._rules import MAX_ENDPOINTS_PER_USER, np_bool


# -- merge -------------------------------------------------------------------------------------
def generated_ids(channel: pa.Array, address: pa.Array) -> pa.Array:
    """Deterministic Ids for endpoints imported without one: a hash of channel and address."""
    key = pc.binary_join_element_wise(channel, address, "\x1f")
    hashed = pd.util.hash_array(np.asarray(key.to_numpy(zero_copy_only=False), dtype=object))
    text = pd.Series(hashed).map("{:016x}".format)
    return pa.array(("ek-" + text).to_numpy(dtype=object), pa.string())


def _last_valid(table: pa.Table, key: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """One row per key (in order of last appearance), each field its last non-null value;
    also the position of each key's last row."""
    codes, uniques = pd.factorize(np.asarray(key.to_numpy(zero_copy_only=False), dtype=object))
    n_keys = len(uniques)
    positions = np.arange(len(codes))
    last_row = pd.Series(positions).groupby(codes).max().to_numpy()
    order = np.argsort(last_row, kind="stable")
    arrays = []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        valid = np_bool(col.is_valid())
        pick = np.full(n_keys, -1, dtype=np.int64)
        if valid.any():
            s = pd.Series(positions[valid]).groupby(codes[valid]).max()
            pick[s.index.to_numpy()] = s.to_numpy()
        pick = pick[order]
        arrays.append(col.take(pa.array(pick, mask=pick < 0)))
    return pa.Table.from_arrays(arrays, names=table.column_names), last_row[order]


def merge_snapshot(
    existing: pa.Table | None, incoming: pa.Table, now: pd.Timestamp
) -> tuple[pa.Table | None, list[tuple[int, str, str]], tuple[int, int, int]]:
    """Apply incoming rows to the snapshot; returns (new snapshot or None if nothing changed,
    late rejects as (incoming row, reason, field), (created, updated, deactivated))."""
    n_in = incoming.num_rows
    rejects: list[tuple[int, str, str]] = []
    if n_in == 0:
        return None, rejects, (0, 0, 0)
    ts_now = pa.scalar(now.to_pydatetime(), type=pa.timestamp("us", tz="UTC"))
    incoming = _ensure(incoming, ["Id", "ChannelType", "Address", "EffectiveDate"])
    exist = existing if existing is not None else pa.table({"Id": pa.array([], pa.string())})
    exist = _ensure(exist, ["Id", "ChannelType", "Address", "EndpointStatus", "EffectiveDate"])
    exist_ids = exist.column("Id").combine_chunks()

    # Ids: given, else the endpoint already holding this channel + address, else a hash
    ids = incoming.column("Id").combine_chunks()
    channel = incoming.column("ChannelType").combine_chunks()
    address = incoming.column("Address").combine_chunks()
    missing = np_bool(ids.is_null())
    if missing.any():
        no_key = missing & (np_bool(channel.is_null()) | np_bool(address.is_null()))
        for i in np.flatnonzero(no_key).tolist():
            rejects.append((i, "a new endpoint needs Address and ChannelType", "Address"))
        known = _address_owner(exist, channel, address)
        fresh = generated_ids(pc.fill_null(channel, ""), pc.fill_null(address, ""))
        ids = pc.if_else(pa.array(missing), pc.coalesce(known, fresh), ids)
        ids = pc.if_else(pa.array(no_key), pa.scalar(None, pa.string()), ids)
        incoming = incoming.set_column(incoming.column_names.index("Id"), "Id", ids)
        keep = ~no_key
        incoming = incoming.filter(pa.array(keep))
        row_map = np.flatnonzero(keep)
    else:
        row_map = np.arange(n_in)
    # every row is an update at `now` unless it says when it was updated
    eff = incoming.column("EffectiveDate").combine_chunks()
    incoming = incoming.set_column(
        incoming.column_names.index("EffectiveDate"), "EffectiveDate", pc.fill_null(eff, ts_now)
    )
    ids = incoming.column("Id").combine_chunks()
    data_names = [c for c in incoming.column_names if not c.startswith("__")]
    if not all_distinct(ids):
        merged, last_rows = _last_valid(incoming.select(data_names), ids)
        groups = pd.factorize(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object))[0]
    else:
        merged, last_rows = incoming.select(data_names), np.arange(incoming.num_rows)
        groups = np.arange(incoming.num_rows)
    m_ids = merged.column("Id").combine_chunks()
    pos = pc.index_in(m_ids, exist_ids) if len(exist_ids) else pa.nulls(len(m_ids), pa.int32())
    is_update = np_bool(pos.is_valid())
    pos_np = np.asarray(pc.fill_null(pos, -1).to_numpy(zero_copy_only=False), dtype=np.int64)

    # the merged endpoints: given fields over existing ones
    names = list(dict.fromkeys([*exist.column_names, *merged.column_names]))
    n_m = merged.num_rows
    take = pa.array(pos_np, mask=pos_np < 0)
    cols: dict[str, pa.Array] = {}
    for name in names:
        new = (
            merged.column(name).combine_chunks()
            if name in merged.column_names
            else pa.nulls(n_m, arrow_type(name))
        )
        if name in exist.column_names and exist.num_rows:
            old = exist.column(name).combine_chunks().take(take)
            new = pc.coalesce(new, old) if n_m else new
        cols[name] = new
    defaults = {
        "EndpointStatus": pa.scalar("ACTIVE"),
        "OptOut": pa.scalar("NONE"),
        "CreationDate": ts_now,
    }
    for name, value in defaults.items():
        base = cols.get(name, pa.nulls(n_m, arrow_type(name)))
        cols[name] = pc.fill_null(base, value)
    names = list(dict.fromkeys([*names, *defaults]))

    # a new endpoint needs Address and ChannelType
    incomplete = ~is_update & (
        np_bool(cols["Address"].is_null()) | np_bool(cols["ChannelType"].is_null())
    )
    # a user keeps at most MAX_ENDPOINTS_PER_USER endpoints
    over = _over_user_limit(exist, cols, pos_np, last_rows, incomplete)
    drop = incomplete | over
    if drop.any():
        for g in np.flatnonzero(drop).tolist():
            reason = (
                "a new endpoint needs Address and ChannelType"
                if incomplete[g]
                else f"user already has {MAX_ENDPOINTS_PER_USER} endpoints (Pinpoint's limit)"
            )
            fld = "Address" if incomplete[g] else "User.UserId"
            for row in np.flatnonzero(groups == g).tolist():
                rejects.append((int(row_map[row]), reason, fld))
    keep_m = ~drop
    if not keep_m.any():
        return None, rejects, (0, 0, 0)

    # assemble: existing rows (updated in place) then new endpoints, in import order
    n_e = exist.num_rows
    if n_e == 0:
        result = pa.Table.from_arrays([cols[name] for name in names], names=names)
        if drop.any():
            result = result.filter(pa.array(keep_m))
        touched = np.ones(result.num_rows, dtype=bool)
        order = np.flatnonzero(keep_m) + 1
        result, deactivated = _deactivate_duplicates(result, touched, order)
        return result, sorted(rejects), (result.num_rows, 0, deactivated)
    index = np.arange(n_e, dtype=np.int64)
    upd = keep_m & is_update
    index[pos_np[upd]] = n_e + np.flatnonzero(upd)
    new_rows = np.flatnonzero(keep_m & ~is_update)
    index = np.concatenate([index, n_e + new_rows])
    out_cols = []
    for name in names:
        old = (
            exist.column(name).combine_chunks()
            if name in exist.column_names
            else pa.nulls(n_e, arrow_type(name))
        )
        both = pa.concat_arrays([old.cast(arrow_type(name)), cols[name].cast(arrow_type(name))])
        out_cols.append(both.take(pa.array(index)))
    result = pa.Table.from_arrays(out_cols, names=names)
    touched = np.zeros(len(index), dtype=bool)
    touched[index >= n_e] = True
    order = np.where(touched, index - n_e + 1, 0)
    result, deactivated = _deactivate_duplicates(result, touched, order)
    created = len(new_rows)
    updated = int(upd.sum())
    return result, sorted(rejects), (created, updated, deactivated)


def all_distinct(ids: pa.Array) -> bool:
    """No value twice. Files sorted by Id (most exports) are checked without hashing."""
    if len(ids) < 2:
        return True
    if not ids.null_count and pc.all(pc.less(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py():
        return True
    return len(pc.unique(ids)) == len(ids)


def _ensure(table: pa.Table, names: list[str]) -> pa.Table:
    for name in names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, arrow_type(name)))
    return table


def _address_owner(exist: pa.Table, channel: pa.Array, address: pa.Array) -> pa.Array:
    """The Id of the endpoint already holding (channel, address), preferring ACTIVE ones."""
    if exist.num_rows == 0:
        return pa.nulls(len(channel), pa.string())
    e_key = pc.binary_join_element_wise(
        exist.column("ChannelType").combine_chunks().cast(pa.string()),
        exist.column("Address").combine_chunks().cast(pa.string()),
        "\x1f",
    )
    status = exist.column("EndpointStatus").combine_chunks().cast(pa.string())
    rank = np_bool(pc.equal(status, "ACTIVE"))
    order = np.argsort(rank, kind="stable")  # ACTIVE last: index_in finds the first, so reverse
    order = order[::-1]
    keys_sorted = e_key.take(pa.array(order))
    ids_sorted = exist.column("Id").combine_chunks().take(pa.array(order))
    key = pc.binary_join_element_wise(channel, address, "\x1f")
    return ids_sorted.take(pc.index_in(key, keys_sorted))


def _over_user_limit(
    exist: pa.Table,
    cols: dict[str, pa.Array],
    pos_np: np.ndarray,
    last_rows: np.ndarray,
    incomplete: np.ndarray,
) -> np.ndarray:
    """Merged endpoints that would give their user more than the allowed number of endpoints:
    endpoints that already belonged to the user keep their place, others queue in import order."""
    n_m = len(pos_np)
    over = np.zeros(n_m, dtype=bool)
    if "User.UserId" not in cols:
        return over
    m_user = cols["User.UserId"].cast(pa.string())
    e_user = (
        exist.column("User.UserId").combine_chunks().cast(pa.string())
        if "User.UserId" in exist.column_names
        else pa.nulls(exist.num_rows, pa.string())
    )
    touched_e = np.zeros(exist.num_rows, dtype=bool)
    touched_e[pos_np[pos_np >= 0]] = True
    parts = [_keep(e_user, ~touched_e), _keep(m_user, ~incomplete)]
    users = pa.concat_arrays([a for a in parts if len(a)]) if any(len(a) for a in parts) else None
    if users is None or users.null_count == len(users):
        return over
    heavy = _frequent(users, MAX_ENDPOINTS_PER_USER)
    if len(heavy) == 0:
        return over
    for user in heavy.to_pylist():
        mine = np.flatnonzero(np_bool(pc.equal(m_user, user)) & ~incomplete)
        held = int((np_bool(pc.equal(e_user, user)) & ~touched_e).sum())
        prior = {i for i in mine if pos_np[i] >= 0 and e_user[int(pos_np[i])].as_py() == user}
        queue = sorted((i for i in mine if i not in prior), key=lambda i: last_rows[i])
        room = MAX_ENDPOINTS_PER_USER - held - len(prior)
        for i in queue[max(room, 0) :]:
            over[i] = True
    return over


def _keep(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` where ``mask``, without copying when every row is kept."""
    return values if mask.all() else values.filter(pa.array(mask))


def _frequent(values: pa.Array, more_than: int) -> pa.Array:
    """The distinct values occurring more than ``more_than`` times (one hash pass)."""
    encoded = pc.dictionary_encode(values)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    counts = np.bincount(codes[codes >= 0], minlength=len(encoded.dictionary))
    return encoded.dictionary.filter(pa.array(counts > more_than))


def _deactivate_duplicates(
    table: pa.Table, touched: np.ndarray, order: np.ndarray
) -> tuple[pa.Table, int]:
    """Among ACTIVE endpoints sharing (ChannelType, Address), only the most recently updated
    (EffectiveDate, then import order) stays ACTIVE. Only groups the import touched change."""
    status = table.column("EndpointStatus").combine_chunks().cast(pa.string())
    active = np_bool(pc.equal(status, "ACTIVE"))
    address = table.column("Address").combine_chunks().cast(pa.string())
    encoded = pc.dictionary_encode(address)  # one hash pass finds the shared addresses
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    live = active & (codes >= 0)
    counts = np.bincount(codes[live], minlength=len(encoded.dictionary))
    rows = np.flatnonzero(live & (counts[np.maximum(codes, 0)] > 1))
    if len(rows) == 0:
        return table, 0
    take = pa.array(rows)
    channel = table.column("ChannelType").combine_chunks().cast(pa.string()).take(take)
    eff = table.column("EffectiveDate").combine_chunks().cast(pa.int64()).take(take)
    sub = pd.DataFrame(
        {
            "key": pc.binary_join_element_wise(channel, address.take(take), "\x1f").to_pylist(),
            "eff": eff.to_numpy(zero_copy_only=False),
            "order": order[rows],
            "touched": touched[rows],
            "row": rows,
        }
    )
    sub = sub[sub.groupby("key")["touched"].transform("any")]
    sub = sub.sort_values(["key", "eff", "order"], kind="stable")
    losers = sub.loc[sub.duplicated("key", keep="last"), "row"].to_numpy()
    if len(losers) == 0:
        return table, 0
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[losers] = True
    new_status = pc.if_else(pa.array(mask), pa.scalar("INACTIVE"), status)
    idx = table.column_names.index("EndpointStatus")
    return table.set_column(idx, "EndpointStatus", new_status), len(losers)
