"""The edge of the warehouse: vendor records in, typed Arrow tables and quarantined rows out.

Every source hands its pages to a `Batcher`, which

- flattens nested objects into `parent__child` columns (lists become JSON text), as dlt's own
  normaliser would, so the Arrow path lands the same column names as the dict path;
- parses the fields a source declares (`TableSpec.known`) into proper types: NetSuite strings,
  `T`/`F` booleans and account-formatted dates, Salesforce `+0000` datetimes, exact decimals;
- keeps fields it has never seen (the schema evolves) with a type inferred from the wire, and
  remembers that type: a later value of another type is a type change;
- quarantines, with a reason, every record it cannot land faithfully: a missing key, a value
  that does not parse, a field whose type changed. Nothing is dropped silently.

Arrow tables go to dlt's fast path (see STACK_NOTES.md: ~170x the default insert path).
Per-row validation cannot be a dlt schema contract here: contracts act on whole Arrow tables
and `discard_row` would drop rows without a trace, while the issue wants the reason kept.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

log = logging.getLogger(__name__)

Kind = Literal["text", "bigint", "bool", "double", "decimal", "timestamp", "date", "json"]
Parser = Callable[[Any], Any]

#: Arrow type of each kind. Decimals keep 9 fractional digits (dlt's default precision).
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "bool": pa.bool_(),
    "double": pa.float64(),
    "decimal": pa.decimal128(38, 9),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
}

#: Table of quarantined records in every raw dataset.
QUARANTINE_TABLE = "quarantine"

_QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_id", pa.string()),
        ("source_system", pa.string()),
        ("table_name", pa.string()),
        ("record_id", pa.string()),
        ("reason", pa.string()),
        ("record", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


#: Cyclic-GC thresholds while parsing big pages (Python's default first threshold is 700).
BULK_GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_bulk() -> tuple[int, int, int]:
    """Make the cyclic garbage collector cheap for bulk JSON; returns the old thresholds.

    A parsed page is thousands of new dicts that all survive until converted, so the default
    thresholds run a collection every 700 of them, each walking every object still alive: a
    quarter of a full fetch's CPU. JSON trees hold no reference cycles, so collecting rarely
    loses nothing; objects alive before the run are frozen out of the collector's walk.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*BULK_GC_THRESHOLDS)
    return old


@contextmanager
def bulk_gc() -> Iterator[None]:
    """`tune_gc_for_bulk` for the block; the collector's settings are restored after it."""
    old = tune_gc_for_bulk()
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class Reject(ValueError):
    """A record that cannot be landed; the message is the quarantine reason."""


# --- parsers: wire value -> Python value of the kind, or ValueError ---------------------------


def as_text(value: Any) -> str:
    """Strings as they are; numbers and booleans are not silently turned into text."""
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {type(value).__name__}")


_INT64 = range(-(2**63), 2**63)


def _int64(number: int) -> int:
    if number not in _INT64:
        raise ValueError("outside the 64-bit integer range")
    return number


def as_bigint(value: Any) -> int:
    """JSON integers, or NetSuite's integer strings (within 64 bits)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return _int64(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return _int64(int(value))
    if isinstance(value, float) and value.is_integer():
        return _int64(int(value))
    raise ValueError("expected an integer")


def as_minor_units(value: Any) -> int:
    """Stripe amounts: integers in minor units, nothing else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _int64(value)
    raise ValueError("expected an integer amount in minor units")


def as_double(value: Any) -> float:
    """JSON numbers or numeric strings."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return float(value)


def as_decimal(value: Any) -> Decimal:
    """Exact decimals from strings, integers, or JSON floats (through their shortest repr)."""
    if isinstance(value, bool):
        raise ValueError("expected a decimal, got a boolean")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("expected a decimal") from None
    if not number.is_finite():
        raise ValueError("expected a finite decimal")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        raise ValueError("more than 9 decimal places")
    if number and number.adjusted() >= 29:  # decimal(38, 9) keeps 29 digits before the point
        raise ValueError("more than 29 digits before the decimal point")
    return number


def as_bool(value: Any) -> bool:
    """JSON booleans, or NetSuite's `T`/`F`."""
    if isinstance(value, bool):
        return value
    if value in ("T", "t", "true"):
        return True
    if value in ("F", "f", "false"):
        return False
    raise ValueError("expected a boolean")


def as_json(value: Any) -> str:
    """Any JSON value as JSON text."""
    return orjson.dumps(value).decode()


def epoch_seconds(value: Any) -> dt.datetime:
    """Stripe timestamps: integer epoch seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    raise ValueError("expected epoch seconds")


def sf_datetime(value: Any) -> dt.datetime:
    """Salesforce datetimes: `2025-09-15T16:20:00.000+0000` (no colon in the offset)."""
    if not isinstance(value, str):
        raise ValueError("expected a datetime string")
    parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    return parsed.astimezone(dt.UTC)


def iso_date(value: Any) -> dt.date:
    """`YYYY-MM-DD`."""
    if not isinstance(value, str):
        raise ValueError("expected a date string")
    return dt.date.fromisoformat(value)


_DATE_TOKENS = {"YYYY": "%Y", "MON": "%b", "MM": "%m", "M": "%m", "DD": "%d", "D": "%d"}


_DIGIT_TOKENS = {
    "YYYY": "(?P<y>[0-9]{4})",
    "MM": "(?P<m>[0-9]{1,2})",
    "M": "(?P<m>[0-9]{1,2})",
    "DD": "(?P<d>[0-9]{1,2})",
    "D": "(?P<d>[0-9]{1,2})",
}


def _digit_pattern(fmt: str) -> re.Pattern[str] | None:
    """A strict regex of an all-digit date format (`M/D/YYYY`, `DD.MM.YYYY`, ...), or None."""
    parts = re.split(r"(YYYY|MON|MM|M|DD|D)", fmt.upper())
    tokens = parts[1::2]
    if "MON" in tokens or sorted(t[0] for t in tokens) != ["D", "M", "Y"]:
        return None
    out = [_DIGIT_TOKENS[p] if i % 2 else re.escape(p) for i, p in enumerate(parts)]
    return re.compile("".join(out))


class AccountDate:
    """A parser of NetSuite dates in the account's date format (`M/D/YYYY`, `DD.MM.YYYY`, ...).

    Attributes:
        fmt: the account's date preference, in NetSuite's notation.
        digits: the strict pattern of an all-digit format (groups `y`, `m`, `d`), or None (a
            format with a month name): what the columnar path may parse without strptime.
    """

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        # strptime's %m and %d accept one or two digits, so M/D and MM/DD share a pattern.
        pattern: str = re.sub(r"YYYY|MON|MM|M|DD|D", lambda m: _DATE_TOKENS[m.group()], fmt.upper())
        self._pattern = pattern
        # The usual all-digit forms are read without strptime (a sixth of its cost); anything
        # the strict pattern does not match is left to strptime, so what is accepted does not
        # change.
        self.digits = _digit_pattern(fmt)

    def __call__(self, value: Any) -> dt.date:
        if not isinstance(value, str):
            raise ValueError("expected a date string")
        text = value.strip()
        match = self.digits.fullmatch(text) if self.digits is not None else None
        if match is not None:
            return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
        return dt.datetime.strptime(text, self._pattern).date()

    def __repr__(self) -> str:
        return f"account_date({self.fmt!r})"


def account_date(fmt: str) -> AccountDate:
    """A parser of NetSuite dates in the account's date format (`M/D/YYYY`, `DD.MM.YYYY`, ...).

    Args:
        fmt: the account's date preference, in NetSuite's notation.
    """
    return AccountDate(fmt)


_TS_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)


def ns_timestamp(value: Any) -> dt.datetime:
    """`YYYY-MM-DD HH24:MI:SS` (our TO_CHAR of NetSuite datetimes), read as UTC."""
    if not isinstance(value, str):
        raise ValueError("expected a timestamp string")
    text = value.strip()
    if (
        len(text) == 19
        and text[4] == text[7] == "-"
        and text[10] == " "
        and text[13] == text[16] == ":"
        and all("0" <= text[i] <= "9" for i in _TS_DIGITS)
    ):  # the canonical form, without strptime; anything else is strptime's to judge
        return dt.datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), int(text[17:19]), tzinfo=dt.UTC,
        )  # fmt: skip
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)


PARSERS: dict[str, Parser] = {
    "text": as_text,
    "bigint": as_bigint,
    "bool": as_bool,
    "double": as_double,
    "decimal": as_decimal,
    "json": as_json,
}


@dataclass(frozen=True)
class Field:
    """A declared field: its kind and the parser from its wire form."""

    kind: Kind
    parse: Parser


def f(kind: Kind, parse: Parser | None = None) -> Field:
    """Shorthand for a declared field (the kind's default parser unless given)."""
    return Field(kind, parse or PARSERS[kind])


@dataclass(frozen=True)
class TableSpec:
    """How one vendor object lands: table, key, declared fields and fields to leave out.

    Attributes:
        table: the raw table name.
        key: the primary key fields (wire names); a record without them is quarantined.
        known: declared fields with their kind and parser.
        drop: wire fields never stored (e.g. Salesforce `attributes`, an embedded list that
            has a table of its own).
        flatten: flatten nested objects into `a__b` columns (else store them as JSON).
    """

    table: str
    key: tuple[str, ...]
    known: dict[str, Field] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    flatten: bool = True


def _infer(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "text"
    return "json"


def _flatten(record: dict[str, Any], spec: TableSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    drop = spec.drop
    for key, value in record.items():
        if key in drop:
            continue
        if type(value) is dict and spec.flatten:
            _flatten_into(out, key, value)
        else:
            out[key] = value
    return out


def _flatten_into(out: dict[str, Any], prefix: str, obj: dict[str, Any]) -> None:
    if not obj:
        return
    for key, value in obj.items():
        name = f"{prefix}__{key}"
        if type(value) is dict:
            _flatten_into(out, name, value)
        else:
            out[name] = value


@dataclass
class TableStats:
    """What one table saw in one run."""

    rows: int = 0
    rejected: int = 0
    deleted: int = 0
    seconds: float = 0.0
    requests: int = 0


@dataclass(frozen=True)
class SourceWarning:
    """Something a source could not see, and what it did instead (the run went on).

    Attributes:
        system: `crm`, `billing` or `erp`.
        table: the raw table (or vendor table/object) concerned.
        message: one human sentence or two, naming the permission or setting to change;
            `str()` of the warning.
    """

    system: str
    table: str
    message: str

    def __str__(self) -> str:
        return self.message


class RunStats:
    """Counts per table for the run summary and the progress display, and the run's warnings."""

    def __init__(self, on_progress: Callable[[str, str, TableStats], None] | None = None) -> None:
        self.tables: dict[tuple[str, str], TableStats] = {}
        self.on_progress = on_progress
        self.warnings: list[SourceWarning] = []

    def table(self, system: str, table: str) -> TableStats:
        """The counters of one table (created on first use)."""
        return self.tables.setdefault((system, table), TableStats())

    def add(
        self, system: str, table: str, *, rows: int = 0, rejected: int = 0, deleted: int = 0
    ) -> None:
        """Count rows and tell the progress display."""
        stats = self.table(system, table)
        stats.rows += rows
        stats.rejected += rejected
        stats.deleted += deleted
        if self.on_progress is not None:
            self.on_progress(system, table, stats)


def warn(stats: RunStats | None, system: str, table: str, message: str) -> SourceWarning:
    """Log `message` once as a warning and keep it on `stats` for the run summary."""
    warning = SourceWarning(system, table, message)
    log.warning("%s", message)
    if stats is not None:
        stats.warnings.append(warning)
    return warning


class Batcher:
    """Turns pages of one object's records into a typed Arrow table plus quarantined rows."""

    def __init__(self, system: str, spec: TableSpec, stats: RunStats | None = None) -> None:
        self.system = system
        self.spec = spec
        self.stats = stats
        self.kinds: dict[str, str] = {name: fld.kind for name, fld in spec.known.items()}
        self._seeded = False
        # column types already in the destination schema, by dlt's normalized column name
        self._stored: dict[str, str] = {}
        self._normalize: Callable[[str], str] = str

    def _seed_from_schema(self) -> None:
        """Types of columns landed by earlier runs, so a type change across runs is caught."""
        self._seeded = True
        try:
            schema = dlt.current.source_schema()
        except Exception:  # outside an extract (unit use): nothing to seed from
            return
        table = schema.tables.get(schema.naming.normalize_table_identifier(self.spec.table))
        if not table:
            return
        self._stored = {
            name: str(col["data_type"])
            for name, col in table.get("columns", {}).items()
            if col.get("data_type")
        }
        self._normalize = schema.naming.normalize_path

    def stored(self) -> dict[str, str]:
        """Column types of this table landed by earlier runs (dlt's normalized names)."""
        if not self._seeded:
            self._seed_from_schema()
        return dict(self._stored)

    @property
    def normalize(self) -> Callable[[str], str]:
        """dlt's column naming of this table's schema (after seeding)."""
        if not self._seeded:
            self._seed_from_schema()
        return self._normalize

    def seed(self, stored: dict[str, str], normalize: Callable[[str], str]) -> None:
        """Start from column types landed by earlier runs, where no dlt pipeline context is
        (a conversion worker process): what `stored()` returned in the pipeline's process."""
        self._seeded = True
        self._stored = dict(stored)
        self._normalize = normalize

    def _stored_kind(self, name: str) -> str | None:
        if not self._stored:
            return None
        return self._stored.get(self._normalize(name))

    def convert(self, records: Iterable[dict[str, Any]]) -> tuple[pa.Table | None, pa.Table | None]:
        """Convert records; returns (typed table or None, quarantine table or None).

        Batches of native JSON values (Stripe's) take a columnar fast path in Arrow's C++
        converter; any batch it cannot vouch for (a string where a number was declared, a
        type change, a missing key, vendor strings to parse) goes through the row-by-row
        path below, which is the reference: both give the same columns and types.
        """
        if not self._seeded:
            self._seed_from_schema()
        records = records if isinstance(records, list) else list(records)
        if self.spec.flatten and records and not self._needs_rows(records[0]):
            fast = self._fast(records)
            if fast is not None:
                if self.stats is not None:
                    self.stats.add(self.system, self.spec.table, rows=fast.num_rows)
                return fast, None
        return self._slow(records)

    def _needs_rows(self, first: Any) -> bool:
        """Whether the columnar path would refuse the batch for sure: its first record has a
        value only the row path parses (one the columnar path has no strict string form of)."""
        if type(first) is not dict:
            return False
        for name, fld in self.spec.known.items():
            value = first.get(name)
            if value is None or fld.parse in _NATIVE_PARSERS:
                continue
            if type(value) is not str or _string_parser(fld) is None:
                return True
        return False

    def convert_arrow(
        self, raw: pa.Table, records: Callable[[], list[dict[str, Any]]]
    ) -> pa.Table | None:
        """The typed table of records Arrow has already read (its JSON reader), or None.

        `raw` holds the wire records as Arrow inferred them (nested objects as structs);
        `records` gives the same records as Python objects, in the same order, and is called only
        when a list value has to be kept as its JSON text. None means the batch needs the
        row-by-row judgement of `convert` (the caller then passes it the records); counts go to
        the stats only on success.
        """
        if not self._seeded:
            self._seed_from_schema()
        if not self.spec.flatten:
            return None
        keep = [n for n in raw.column_names if n not in self.spec.drop]
        if len(keep) != raw.num_columns:
            raw = raw.select(keep)
        table = self._typed(raw, _Lazy(records))
        if table is not None and self.stats is not None:
            self.stats.add(self.system, self.spec.table, rows=table.num_rows)
        return table

    def _fast(self, records: list[dict[str, Any]]) -> pa.Table | None:
        """The batch as a typed Arrow table, or None when only the row path can judge it."""
        drop = self.spec.drop
        # Dropped fields (big embedded lists) leave the records only while Arrow reads them.
        saved = [{k: r.pop(k) for k in drop if k in r} for r in records] if drop else []
        try:
            # `pa.array` types each field from every record; `Table.from_pylist` would take the
            # columns from the first record alone and silently lose fields only later ones have.
            table = pa.Table.from_struct_array(pa.array(records))
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            pa.ArrowNotImplementedError,
            TypeError,
            ValueError,
            OverflowError,
        ):
            return None
        finally:
            for record, fields_ in zip(records, saved, strict=False):
                record.update(fields_)
        return self._typed(table, _Lazy(lambda: records))

    def _typed(self, table: pa.Table, records: _Lazy) -> pa.Table | None:
        """Type an Arrow table of wire records to the declared and learned kinds, or None."""
        spec = self.spec
        drop = spec.drop
        try:
            while any(pa.types.is_struct(t) for t in table.schema.types):
                table = table.flatten()
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            return None
        n_rows = table.num_rows
        kinds = self.kinds
        arrays: list[pa.Array] = []
        fields: list[pa.Field] = []
        new_kinds: dict[str, str] = {}
        for column, arrow_type in zip(table.columns, table.schema.types, strict=True):
            name = column._name.replace(".", "__")
            have = kinds.get(name) or self._stored_kind(name)
            if pa.types.is_null(arrow_type):
                if have is None:
                    continue  # only ever null: nothing to type it by yet
                target = ARROW_TYPES[have]
                column = pa.nulls(len(column), target)
            else:
                seen = _ARROW_KINDS.get(str(arrow_type))
                declared = spec.known.get(name)
                strings = (
                    _string_parser(declared) if declared is not None and seen == "text" else None
                )
                if strings is not None and declared is not None:
                    # vendor strings (NetSuite's) in their strict forms, parsed by Arrow
                    parsed = strings(column)
                    if parsed is None:
                        return self._refuse(name, f"has a value outside the {declared.kind} form")
                    column, target = parsed, ARROW_TYPES[declared.kind]
                else:
                    if seen is None and pa.types.is_list(arrow_type):
                        seen = "json"
                    if have == "text" and seen == "json":
                        have = "json"  # JSON text lands in a text column (the row path agrees)
                    if seen is None or (have is not None and have != seen):
                        return self._refuse(name, f"arrives as {arrow_type}, landed as {have}")
                    if have is None and seen == "double":
                        # the row path decides whether ints and floats mix
                        return self._refuse(name, "a new number column")
                    if (
                        declared is not None
                        and declared.kind != "json"  # lists become JSON text just below
                        and declared.parse not in _NATIVE_PARSERS
                    ):
                        return self._refuse(name, "is parsed from a vendor string")
                    if seen == "json":
                        as_text = _list_json(column, records, name)
                        if as_text is None:
                            return self._refuse(name, "its records do not line up with the table")
                        column = as_text
                    target = ARROW_TYPES[seen]
                    if have is None:
                        new_kinds[name] = seen
            if name in spec.key and column.null_count:
                return self._refuse(name, "a key with nulls")
            if name in spec.key and pa.types.is_string(column.type) and _any_empty(column):
                return self._refuse(name, "a key with empty strings")  # the row path's verdict
            arrays.append(column)
            fields.append(pa.field(name, target, nullable=name not in spec.key))
        present = {f.name for f in fields}
        if any(k not in present for k in spec.key):
            return self._refuse(",".join(spec.key), "a key missing")
        for name in spec.known:
            if name not in drop and name not in present:
                arrays.append(pa.nulls(n_rows, ARROW_TYPES[kinds[name]]))
                fields.append(pa.field(name, ARROW_TYPES[kinds[name]]))
        kinds.update(new_kinds)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _refuse(self, column: str, why: str) -> pa.Table | None:
        """None, noting why the batch takes the row-by-row path (correct there, only slower)."""
        log.debug("%s.%s: row-by-row path: %s %s", self.system, self.spec.table, column, why)
        return None

    def _slow(self, records: list[dict[str, Any]]) -> tuple[pa.Table | None, pa.Table | None]:
        spec = self.spec
        known = spec.known
        kinds = self.kinds
        key = spec.key
        good: list[dict[str, Any]] = []
        bad: list[tuple[dict[str, Any], str]] = []
        for record in records:
            if type(record) is not dict:
                bad.append(({"value": record}, "record is not an object"))
                continue
            row = _flatten(record, spec)
            try:
                for k in key:
                    if row.get(k) in (None, ""):
                        raise Reject(f"missing primary key field {k}")
                for name, value in row.items():
                    if value is None:
                        continue
                    fld = known.get(name)
                    if fld is not None:
                        try:
                            row[name] = fld.parse(value)
                        except (ValueError, TypeError, OverflowError) as exc:
                            raise Reject(
                                f"field {name}: cannot parse {_short(value)} as {fld.kind} ({exc})"
                            ) from None
                        continue
                    seen = _infer(value)
                    have = kinds.get(name) or self._stored_kind(name)
                    if seen == "bigint" and (have or seen) == "bigint" and value not in _INT64:
                        raise Reject(f"field {name}: {_short(value)} is outside the 64-bit range")
                    if have is None:
                        kinds[name] = seen
                    elif have != seen:
                        if have == "double" and seen == "bigint":
                            row[name] = float(value)
                        elif have == "json" or (have == "text" and seen == "json"):
                            pass
                        else:
                            raise Reject(
                                f"field {name} changed type from {have} to {seen}: {_short(value)}"
                            )
                        kinds.setdefault(name, have)
                    else:
                        kinds.setdefault(name, have)
                    if seen == "json":
                        row[name] = as_json(value)
            except Reject as exc:
                bad.append((record, str(exc)))
                continue
            good.append(row)
        table = self._to_arrow(good) if good else None
        quarantine = self._quarantine(bad) if bad else None
        if self.stats is not None:
            self.stats.add(self.system, spec.table, rows=len(good), rejected=len(bad))
        return table, quarantine

    def _to_arrow(self, rows: list[dict[str, Any]]) -> pa.Table:
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        for name in self.spec.known:
            if name not in self.spec.drop:
                names.setdefault(name)
        arrays = []
        fields = []
        for name in names:
            values = [row.get(name) for row in rows]
            kind = self.kinds.get(name)
            if kind is None:
                continue  # only ever null: nothing to type it by yet
            arrow_type = ARROW_TYPES[kind]
            arrays.append(pa.array(values, type=arrow_type))
            # Keys are never null here (checked above); saying so matches dlt's key hints.
            fields.append(pa.field(name, arrow_type, nullable=name not in self.spec.key))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _quarantine(self, bad: list[tuple[dict[str, Any], str]]) -> pa.Table:
        now = dt.datetime.now(dt.UTC)
        ids, record_ids, reasons, texts = [], [], [], []
        for record, reason in bad:
            text = _record_text(record)
            digest = hashlib.sha1(
                f"{self.system}/{self.spec.table}/{reason}/{text}".encode()
            ).hexdigest()
            ids.append(digest)
            rid = "/".join(str(record.get(k)) for k in self.spec.key if record.get(k) is not None)
            record_ids.append(rid or None)
            reasons.append(reason)
            texts.append(text)
        n = len(bad)
        return pa.Table.from_arrays(
            [
                pa.array(ids),
                pa.array([self.system] * n),
                pa.array([self.spec.table] * n),
                pa.array(record_ids, type=pa.string()),
                pa.array(reasons),
                pa.array(texts),
                pa.array([now] * n, type=pa.timestamp("us", tz="UTC")),
            ],
            schema=_QUARANTINE_SCHEMA,
        )


#: Arrow types the fast path accepts, by the kind they land as.
_ARROW_KINDS = {"string": "text", "int64": "bigint", "bool": "bool", "double": "double"}
#: Declared parsers that only check a native JSON type (so Arrow's own typing is the same check).
_NATIVE_PARSERS: frozenset[Parser] = frozenset({as_text, as_bigint, as_minor_units, as_bool})


# --- vendor strings parsed by Arrow: exactly the row path's values, or None (refuse) ----------
#
# Each parses a string column only when every value is in a strict, obviously safe form (RE2,
# the whole value), and then gives the very values the row path's parser gives; any other
# value (spaces, `+`, exponents, other spellings, an invalid date, a number past the Arrow
# type) gives None, and the batch goes to the row path, which parses what it can and
# quarantines the rest with reasons. Nulls stay null.

StringParser = Callable[[pa.ChunkedArray], pa.ChunkedArray | None]

_BIGINT_FORM = r"^-?[0-9]+$"
# `Decimal(str)` reads `.5` and `-.5` too; more than 9 places is the row path's to refuse.
_DECIMAL_FORM = r"^-?(?:[0-9]+(?:\.[0-9]{1,9})?|\.[0-9]{1,9})$"
_BOOL_FORM = r"^[TF]$"
_TIMESTAMP_FORM = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_TIMESTAMP_STRPTIME = "%Y-%m-%d %H:%M:%S"
#: Errors of an Arrow cast or parse of a value outside the Arrow type (or Python's range).
_ARROW_VALUE_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError)


def _all(mask: Any) -> bool:
    """Whether every non-null value of a boolean array is true (an empty array's is)."""
    return bool(pc.all(mask, skip_nulls=True, min_count=0).as_py())


def _any_empty(column: pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.equal(column, ""), skip_nulls=True, min_count=0).as_py())


def _bigint_strings(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`as_bigint` of ASCII integer strings (int64 refuses what does not fit)."""
    if not _all(pc.match_substring_regex(column, _BIGINT_FORM)):
        return None
    try:
        return pc.cast(column, ARROW_TYPES["bigint"])
    except _ARROW_VALUE_ERRORS:
        return None


def _decimal_strings(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`as_decimal` of plain decimal strings with at most 9 places (Arrow reads them exactly)."""
    if not _all(pc.match_substring_regex(column, _DECIMAL_FORM)):
        return None
    try:
        return pc.cast(column, ARROW_TYPES["decimal"])
    except _ARROW_VALUE_ERRORS:  # past 38 digits: the row path's to judge
        return None


def _bool_strings(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`as_bool` of NetSuite's `T`/`F` (its other spellings are the row path's)."""
    if not _all(pc.match_substring_regex(column, _BOOL_FORM)):
        return None
    return pc.equal(column, "T")


def _timestamp_strings(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`ns_timestamp` of the canonical `YYYY-MM-DD HH:MM:SS`, as UTC."""
    if not _all(pc.match_substring_regex(column, _TIMESTAMP_FORM)):
        return None
    if not _all(pc.invert(pc.starts_with(column, "0000"))):
        return None  # year 0: Arrow has it, Python's datetime (the row path) does not
    try:
        seconds = pc.strptime(column, format=_TIMESTAMP_STRPTIME, unit="s", error_is_null=False)
        # strptime rolls an invalid day or a leap second over (2025-02-30 is read as
        # 2025-03-02): only values that print back as they came are the row path's instants.
        printed = pc.strftime(seconds, format=_TIMESTAMP_STRPTIME)
    except _ARROW_VALUE_ERRORS:
        return None
    if not _all(pc.equal(printed, column)):
        return None
    return pc.cast(seconds, ARROW_TYPES["timestamp"])  # naive seconds are UTC: same instants


def _date_strings(column: pa.ChunkedArray, digits: re.Pattern[str]) -> pa.ChunkedArray | None:
    """`AccountDate` of an all-digit format: its strict pattern, then a checked ISO date."""
    try:
        parts = pc.extract_regex(column, f"^(?:{digits.pattern})$")
    except _ARROW_VALUE_ERRORS:  # a separator RE2 reads otherwise: leave it to the row path
        return None
    if parts.null_count != column.null_count:
        return None  # a value outside the pattern
    year, month, day = (pc.struct_field(parts, name) for name in ("y", "m", "d"))
    if not _all(pc.not_equal(year, "0000")):
        return None  # year 0: Arrow has it, Python's date (the row path) does not
    iso = pc.binary_join_element_wise(
        year,
        pc.utf8_lpad(month, width=2, padding="0"),
        pc.utf8_lpad(day, width=2, padding="0"),
        "-",
    )
    try:
        dates = pc.cast(iso, ARROW_TYPES["date"])  # refuses invalid calendar dates
        printed = pc.cast(dates, pa.string())
    except _ARROW_VALUE_ERRORS:
        return None
    if not _all(pc.equal(printed, iso)):
        return None  # belt and braces: a date Arrow read as another day
    return dates


#: Parsers of vendor strings the columnar path has a strict form of, with the kind they give.
_STRING_PARSERS: dict[Parser, tuple[str, StringParser]] = {
    as_bigint: ("bigint", _bigint_strings),
    as_decimal: ("decimal", _decimal_strings),
    as_bool: ("bool", _bool_strings),
    ns_timestamp: ("timestamp", _timestamp_strings),
}


def _string_parser(fld: Field) -> StringParser | None:
    """The columnar parser of a declared field's string values, or None (row path only)."""
    parse = fld.parse
    if isinstance(parse, AccountDate):
        digits = parse.digits
        if fld.kind != "date" or digits is None:
            return None  # month names (`MON`) are strptime's, in the row path
        return lambda column: _date_strings(column, digits)
    entry = _STRING_PARSERS.get(parse)
    if entry is None or entry[0] != fld.kind:
        return None
    return entry[1]


def list_page_table(body: bytes, data_key: str = "data") -> pa.Table | None:
    """The records of one list page (`{"data": [...], ...}`) as Arrow's JSON reader infers them.

    Nested objects come back as structs and lists as lists, as `pa.array` over the parsed
    records would give them, but without building a Python object per value. None when Arrow
    cannot read the page (a value whose type changes between records, an integer past 64 bits,
    ...): the caller then parses it in Python and the row-by-row path decides.
    """
    read = list_pages_table([body], data_key)
    return read[0] if read is not None else None


def list_pages_table(
    bodies: list[bytes], data_key: str = "data"
) -> tuple[pa.Table, list[int]] | None:
    """The records of list pages as one table, and how many records each page held.

    The pages are handed to Arrow's JSON reader in one call (one page per row): a call costs
    about half a millisecond before it reads a byte, which made 171 small line pages cost
    twenty times what they cost read together. Types are inferred over every page at once,
    so a field that is null on one page and set on another gets the set type. None when Arrow
    cannot read them together (see `list_page_table`, which the caller may then try page by
    page) or a page has no `data_key` list.
    """
    if not bodies:
        return pa.table({}), []
    joined = b"\n".join(bodies)
    try:
        pages = pj.read_json(
            pa.BufferReader(joined),
            read_options=pj.ReadOptions(block_size=len(joined) + 1, use_threads=False),
            parse_options=pj.ParseOptions(newlines_in_values=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if pages.num_rows != len(bodies) or data_key not in pages.column_names:
        return None
    data = pages.column(data_key)
    if not pa.types.is_list(data.type) or data.null_count:
        return None
    counts = pc.list_value_length(data).to_pylist()
    values = pc.list_flatten(data)
    if pa.types.is_null(values.type) and len(values) == 0:
        return pa.table({}), counts
    if not pa.types.is_struct(values.type) or values.null_count:
        return None
    return pa.Table.from_struct_array(values.combine_chunks()), counts


class _Lazy:
    """The Python records of a batch, produced on first use (parsing them can be costly)."""

    def __init__(self, make: Callable[[], list[dict[str, Any]]]) -> None:
        self._make = make
        self._records: list[dict[str, Any]] | None = None

    def __call__(self) -> list[dict[str, Any]]:
        if self._records is None:
            self._records = self._make()
        return self._records


def _list_json(column: pa.ChunkedArray, records: _Lazy, name: str) -> pa.Array | None:
    """A list column as JSON text; lists that are all empty (most of Stripe's) without Python.

    Other lists are written from the Python records (Arrow's structs would not keep their key
    order or absent keys); None when those records are not one per row of the column.
    """
    lengths = pc.list_value_length(column)
    if not pc.max(lengths).as_py():
        return pc.if_else(pc.is_null(lengths), pa.scalar(None, pa.string()), "[]")
    rows = records()
    if len(rows) != len(column):
        return None
    return pa.array(_json_at(rows, name), type=pa.string())


def _json_at(records: list[dict[str, Any]], name: str) -> list[str | None]:
    """The JSON text of a (possibly nested) list field of every record, as the row path has it."""
    path = name.split("__")
    out: list[str | None] = []
    for record in records:
        value: Any = record
        for part in path:
            value = value.get(part) if type(value) is dict else None
            if value is None:
                break
        out.append(None if value is None else as_json(value))
    return out


def _record_text(record: Any) -> str:
    """A quarantined record as sorted JSON text (the stdlib's when orjson cannot write it,
    e.g. an integer past 64 bits, so the record is kept as it came)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode()
    except TypeError:
        return json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


QUARANTINE_HINTS = dlt.mark.make_hints(
    table_name=QUARANTINE_TABLE,
    write_disposition="merge",
    primary_key="quarantine_id",
)


def emit(
    table: pa.Table | None, quarantine: pa.Table | None, *, table_name: str | None = None
) -> Iterable[Any]:
    """What a resource yields for one converted batch: its rows, then its quarantined rows."""
    if table is not None and table.num_rows:
        yield table if table_name is None else dlt.mark.with_table_name(table, table_name)
    if quarantine is not None and quarantine.num_rows:
        yield dlt.mark.with_hints(quarantine, QUARANTINE_HINTS, create_table_variant=True)


class Timer:
    """Accumulates the wall time a resource spends producing its rows (not waiting on dlt)."""

    def __init__(self, stats: TableStats | None) -> None:
        self.stats = stats
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stats is not None:
            self.stats.seconds += time.perf_counter() - self._start
