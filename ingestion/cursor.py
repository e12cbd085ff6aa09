"""The inclusive last-modified cursor the CRM and ERP sources share.

A run asks for rows with `cursor >= floor` (`>=`: a row stamped in the same second as the last
one landed but written after that read is not missed). The rows the previous run landed at
`floor` come back, and are left out only when they are unchanged: the state keeps, for each key
landed at the newest cursor value, a fingerprint of the row as it was landed. A record edited
again within that second (stamps have one-second resolution) differs from its fingerprint and
is landed; a run with no changes lands nothing.

State written by an older closeloop kept the keys without fingerprints (`ids`); those rows are
landed again once (a merge on the key: no duplicates), since it cannot tell whether they
changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
import pyarrow as pa

#: key -> fingerprint of the row landed at the cursor value (None: not known, an older state).
Seen = dict[str, str | None]


def fingerprint(row: dict[str, Any]) -> str:
    """A short digest of a converted row's values (column names included)."""
    text = orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(text, digest_size=12).hexdigest()


def load_seen(state: dict[str, Any]) -> tuple[dt.datetime | None, Seen]:
    """The cursor and the fingerprints of the rows landed at it, from a resource's state."""
    floor = dt.datetime.fromisoformat(state["cursor"]) if state.get("cursor") else None
    seen = state.get("seen")
    if isinstance(seen, dict):
        return floor, {str(k): v if isinstance(v, str) else None for k, v in seen.items()}
    return floor, {str(k): None for k in state.get("ids") or []}


def save_seen(state: dict[str, Any], newest: dt.datetime | None, seen: Seen) -> None:
    """Store the newest cursor value landed and the fingerprints of the rows landed at it."""
    if newest is None:
        return
    state["cursor"] = newest.isoformat()
    state["seen"] = dict(sorted(seen.items()))
    state.pop("ids", None)


def _fingerprints(table: pa.Table, rows: list[int]) -> list[str]:
    if not rows:
        return []
    return [fingerprint(r) for r in table.take(pa.array(rows, pa.int64())).to_pylist()]


def past_cursor(
    table: pa.Table,
    cursor: str,
    key: tuple[str, ...],
    floor: dt.datetime | None,
    floor_seen: Seen,
    newest: dt.datetime | None,
    newest_seen: Seen,
) -> tuple[pa.Table, dt.datetime | None, Seen]:
    """Drop the rows of `table` landed unchanged at the cursor `floor`; advance the cursor.

    Args:
        table: a converted batch, `cursor` typed as a timestamp.
        cursor: the last-modified column.
        key: the primary key columns (a row's id in the state: their values joined by `/`).
        floor: the previous run's cursor (None on a first run).
        floor_seen: the fingerprints of the rows the previous run landed at `floor`.
        newest: the newest cursor value landed so far in this run.
        newest_seen: the fingerprints of the rows landed at `newest`.

    Returns:
        The rows to land, and the new `newest` and `newest_seen`.
    """
    stamps = table.column(cursor).to_pylist() if cursor in table.column_names else []
    if not stamps:
        return table, newest, newest_seen
    columns = [table.column(k).to_pylist() for k in key]
    ids = ["/".join(str(v) for v in values) for values in zip(*columns, strict=True)]
    # Rows at the floor landed there before: compare them with what was landed.
    again = [
        i
        for i, (stamp, rid) in enumerate(zip(stamps, ids, strict=True))
        if floor is not None and stamp == floor and floor_seen.get(rid) is not None
    ]
    unchanged = {
        i
        for i, print_ in zip(again, _fingerprints(table, again), strict=True)
        if floor_seen.get(ids[i]) == print_
    }
    keep = [
        not (floor is not None and stamp is not None and (stamp < floor or i in unchanged))
        for i, stamp in enumerate(stamps)
    ]
    kept = [s for s, k in zip(stamps, keep, strict=True) if k and s is not None]
    if kept and (newest is None or max(kept) > newest):
        newest, newest_seen = max(kept), {}
    if newest is not None:
        at_newest = [i for i, s in enumerate(stamps) if keep[i] and s == newest]
        prints = _fingerprints(table, at_newest)
        newest_seen = {
            **newest_seen,
            **{ids[i]: p for i, p in zip(at_newest, prints, strict=True)},
        }
    if not all(keep):
        table = table.filter(pa.array(keep))
    return table, newest, newest_seen
