"""The inclusive last-modified cursor the CRM and ERP sources share.

A run asks for rows with `cursor >= floor` (`>=`: a row stamped in the same second as the last
one landed but written after that read is not missed) and drops the rows the previous run
already landed at `floor`, by their keys (`floor_ids`). The state a run saves is the newest
cursor value it landed and the keys it landed at that value.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa


def past_cursor(
    table: pa.Table,
    cursor: str,
    key: tuple[str, ...],
    floor: dt.datetime | None,
    floor_ids: set[str],
    newest: dt.datetime | None,
    newest_ids: set[str],
) -> tuple[pa.Table, dt.datetime | None, set[str]]:
    """Drop the rows of `table` already landed at the cursor `floor`; advance the cursor.

    Args:
        table: a converted batch, `cursor` typed as a timestamp.
        cursor: the last-modified column.
        key: the primary key columns (a row's id in the state: their values joined by `/`).
        floor: the previous run's cursor (None on a first run).
        floor_ids: the keys the previous run landed at `floor`.
        newest: the newest cursor value landed so far in this run.
        newest_ids: the keys landed at `newest`.

    Returns:
        The rows to land, and the new `newest` and `newest_ids`.
    """
    stamps = table.column(cursor).to_pylist() if cursor in table.column_names else []
    if not stamps:
        return table, newest, newest_ids
    columns = [table.column(k).to_pylist() for k in key]
    ids = ["/".join(str(v) for v in values) for values in zip(*columns, strict=True)]
    keep = []
    for stamp, rid in zip(stamps, ids, strict=True):
        if (
            floor is not None
            and stamp is not None
            and (stamp < floor or (stamp == floor and rid in floor_ids))
        ):
            keep.append(False)
            continue
        keep.append(True)
        if stamp is None:
            continue
        if newest is None or stamp > newest:
            newest, newest_ids = stamp, {rid}
        elif stamp == newest:
            newest_ids = newest_ids | {rid}
    if not all(keep):
        table = table.filter(pa.array(keep))
    return table, newest, newest_ids
