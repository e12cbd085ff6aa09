"""The Stripe-shaped billing API: `create_app(paths)` serves Stripe v1 list/retrieve endpoints.

Reads billing.sqlite (documents stored in `schema.STORED_STRIPE_VERSION`) and manifest.json's
clock. Auth, rate limits and faults are added around this app by `sandbox.http_common.wrap`.
Behaviour follows the real API (VENDOR_FACTS.md, Stripe 1-10): newest-first lists with
`limit`/`starting_after`/`ending_before`, `created` ranges, per-endpoint filters, 400 for any
unknown parameter, `expand[]`, deleted customers as stubs, 30 days of events, and response shapes
that follow the `Stripe-Version` header (see `sandbox.billing.versions`).
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import schema
from sandbox.billing.expand import Expander
from sandbox.billing.params import (
    Query,
    StripeError,
    array,
    parse_bool,
    parse_enum,
    parse_limit,
    parse_query,
    range_filter,
    resource_missing,
    scalar,
    unknown_parameter,
)
from sandbox.billing.store import OBJECT_NAMES, BillingStore
from sandbox.billing.versions import ApiVersion, needs_reshape, parse_version, render

log = logging.getLogger(__name__)

SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PRICE_TYPES = ("one_time", "recurring")
COLLECTION_METHODS = ("charge_automatically", "send_invoice")

#: A filter turns the query into SQL conditions and their arguments.
Filter = Callable[[Query], tuple[list[str], list[Any]]]


def _eq(column: str, param: str) -> Filter:
    def build(query: Query) -> tuple[list[str], list[Any]]:
        value = scalar(query, param)
        return ([f"{column} = ?"], [value]) if value is not None else ([], [])

    return build


def _bool(column: str, param: str) -> Filter:
    def build(query: Query) -> tuple[list[str], list[Any]]:
        value = scalar(query, param)
        if value is None:
            return [], []
        return [f"{column} = ?"], [int(parse_bool(value, param))]

    return build


def _enum(column: str, param: str, allowed: tuple[str, ...]) -> Filter:
    def build(query: Query) -> tuple[list[str], list[Any]]:
        value = scalar(query, param)
        if value is None:
            return [], []
        return [f"{column} = ?"], [parse_enum(value, param, allowed)]

    return build


def _due_date(query: Query) -> tuple[list[str], list[Any]]:
    conditions, values = range_filter(query, "due_date", "json_extract(doc, '$.due_date')")
    return conditions, list(values)


def _currency(query: Query) -> tuple[list[str], list[Any]]:
    value = scalar(query, "currency")
    if value is None:
        return [], []
    return ["currency = ?"], [value.lower()]


def _ids(query: Query) -> tuple[list[str], list[Any]]:
    ids = array(query, "ids")
    if ids is None:
        return [], []
    if not ids:
        return ["0"], []
    return [f"id in ({','.join('?' * len(ids))})"], list(ids)


def _subscription_status(query: Query) -> tuple[list[str], list[Any]]:
    value = scalar(query, "status")
    if value is None:
        # Stripe hides canceled subscriptions unless asked (VENDOR_FACTS Stripe 3).
        return ["status != 'canceled'"], []
    status = parse_enum(value, "status", SUBSCRIPTION_STATUSES)
    if status == "all":
        return [], []
    if status == "ended":
        return ["status in ('canceled', 'incomplete_expired')"], []
    return ["status = ?"], [status]


def _event_type(query: Query) -> tuple[list[str], list[Any]]:
    value = scalar(query, "type")
    types = array(query, "types", max_items=20)
    if value is not None and types is not None:
        raise StripeError(
            400, "You may only specify one of these parameters: type, types.", param="types"
        )
    if value is not None:
        if value.endswith("*"):
            prefix = value[:-1]
            return ["substr(type, 1, ?) = ?"], [len(prefix), prefix]
        return ["type = ?"], [value]
    if types is not None:
        if not types:
            return ["0"], []
        return [f"type in ({','.join('?' * len(types))})"], list(types)
    return [], []


@dataclass(frozen=True)
class Collection:
    """One list endpoint: its table, Stripe object name and the filters Stripe has for it."""

    table: str
    object_name: str
    filters: dict[str, Filter] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/v1/{self.table}"


COLLECTIONS: dict[str, Collection] = {
    c.table: c
    for c in (
        Collection("customers", "customer", {"email": _eq("email", "email")}),
        Collection("products", "product", {"active": _bool("active", "active"), "ids": _ids}),
        Collection(
            "prices",
            "price",
            {
                "product": _eq("product", "product"),
                "active": _bool("active", "active"),
                "currency": _currency,
                "type": _enum("json_extract(doc, '$.type')", "type", PRICE_TYPES),
            },
        ),
        Collection(
            "subscriptions",
            "subscription",
            {
                "customer": _eq("customer", "customer"),
                "price": _eq("price", "price"),
                "status": _subscription_status,
                "collection_method": _enum(
                    "json_extract(doc, '$.collection_method')",
                    "collection_method",
                    COLLECTION_METHODS,
                ),
            },
        ),
        Collection(
            "invoices",
            "invoice",
            {
                "customer": _eq("customer", "customer"),
                "subscription": _eq("subscription", "subscription"),
                "status": _enum("status", "status", INVOICE_STATUSES),
                "collection_method": _enum(
                    "json_extract(doc, '$.collection_method')",
                    "collection_method",
                    COLLECTION_METHODS,
                ),
                "due_date": _due_date,
            },
        ),
        Collection(
            "charges",
            "charge",
            {
                "customer": _eq("customer", "customer"),
                "payment_intent": _eq("payment_intent", "payment_intent"),
            },
        ),
        Collection("payment_intents", "payment_intent", {"customer": _eq("customer", "customer")}),
        Collection(
            "refunds",
            "refund",
            {
                "charge": _eq("charge", "charge"),
                "payment_intent": _eq("payment_intent", "payment_intent"),
            },
        ),
        Collection(
            "credit_notes",
            "credit_note",
            {"customer": _eq("customer", "customer"), "invoice": _eq("invoice", "invoice")},
        ),
        Collection("events", "event", {"type": _event_type, "types": _event_type}),
    )
}
assert set(COLLECTIONS) == set(OBJECT_NAMES)

_PAGING = ("limit", "starting_after", "ending_before", "expand")

_request_ids = itertools.count(1)


def _envelope(docs: list[bytes], has_more: bool, url: str) -> bytes:
    """A list envelope around stored JSON documents, spliced without parsing them."""
    more = b"true" if has_more else b"false"
    return b"".join(
        (
            b'{"object":"list","data":[',
            b",".join(docs),
            b'],"has_more":',
            more,
            b',"url":',
            orjson.dumps(url),
            b"}",
        )
    )


def _check_params(query: Query, allowed: set[str]) -> None:
    for name in sorted(query.names()):
        if name not in allowed:
            raise unknown_parameter(name)


def _cursor(query: Query) -> tuple[str | None, str | None]:
    after = scalar(query, "starting_after")
    before = scalar(query, "ending_before")
    if after is not None and before is not None:
        raise StripeError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    return after, before


class BillingApi:
    """Request handlers over one sandbox's billing database."""

    def __init__(self, paths: schema.SandboxPaths) -> None:
        self.store = BillingStore(paths)

    # -- lists ---------------------------------------------------------------------------

    def list_collection(self, coll: Collection, query: Query, version: ApiVersion) -> bytes:
        """`GET /v1/<collection>`: one page, newest first."""
        _check_params(query, {*_PAGING, "created", *coll.filters})
        limit = parse_limit(query)
        expand = array(query, "expand")
        conditions, created_args = range_filter(query)
        args: list[Any] = list(created_args)
        seen: set[int] = set()
        for build in coll.filters.values():
            if id(build) in seen:
                continue
            seen.add(id(build))
            more_conditions, more_args = build(query)
            conditions += more_conditions
            args += more_args
        if coll.table == "customers":
            conditions.append("deleted = 0")
        floor = None
        if coll.table == "events":
            floor = self.store.event_floor()
            conditions.append("created >= ?")
            args.append(floor)

        after, before = _cursor(query)
        cursor_id = after or before
        order = "desc"
        if cursor_id is not None:
            created = self.store.position(coll.table, cursor_id)
            if created is None or (floor is not None and created < floor):
                raise resource_missing(
                    coll.object_name,
                    cursor_id,
                    param="starting_after" if after is not None else "ending_before",
                    status=400,
                )
            if after is not None:
                conditions.append("(created, id) < (?, ?)")
            else:
                conditions.append("(created, id) > (?, ?)")
                order = "asc"
            args += [created, cursor_id]

        where = " and ".join(conditions) or "1"
        sql = (
            f"select doc from {coll.table} where {where} "
            f"order by created {order}, id {order} limit ?"
        )
        rows = self.store.con().execute(sql, [*args, limit + 1]).fetchall()
        has_more = len(rows) > limit
        docs = [r[0] for r in rows[:limit]]
        if order == "asc":
            docs.reverse()
        return self._render_list(docs, has_more, coll.url, coll.object_name, expand, version)

    def _render_list(
        self,
        docs: list[bytes],
        has_more: bool,
        url: str,
        object_name: str,
        expand: list[str] | None,
        version: ApiVersion,
    ) -> bytes:
        if not expand and not needs_reshape(object_name, version):
            return _envelope(docs, has_more, url)
        body: dict[str, Any] = {
            "object": "list",
            "data": [render(orjson.loads(d), version) for d in docs],
            "has_more": has_more,
            "url": url,
        }
        if expand:
            expander = Expander(self.store, version)
            for path in expand:
                expander.expand(body, path)
        return orjson.dumps(body)

    def list_lines(self, invoice: str, query: Query, version: ApiVersion) -> bytes:
        """`GET /v1/invoices/<id>/lines`: every line of one invoice, in invoice order."""
        _check_params(query, set(_PAGING))
        limit = parse_limit(query)
        expand = array(query, "expand")
        con = self.store.con()
        if con.execute("select 1 from invoices where id = ?", (invoice,)).fetchone() is None:
            raise resource_missing("invoice", invoice, param="id", status=404)
        after, before = _cursor(query)
        cursor_id = after or before
        condition, args, order = "", [invoice], "asc"
        if cursor_id is not None:
            row = con.execute(
                "select seq from invoice_lines where invoice = ? and id = ?", (invoice, cursor_id)
            ).fetchone()
            if row is None:
                raise resource_missing(
                    "line item",
                    cursor_id,
                    param="starting_after" if after is not None else "ending_before",
                    status=400,
                )
            condition = " and seq > ?" if after is not None else " and seq < ?"
            order = "asc" if after is not None else "desc"
            args.append(row[0])
        rows = con.execute(
            f"select doc from invoice_lines where invoice = ?{condition} "
            f"order by seq {order} limit ?",
            [*args, limit + 1],
        ).fetchall()
        has_more = len(rows) > limit
        docs = [r[0] for r in rows[:limit]]
        if order == "desc":
            docs.reverse()
        url = f"/v1/invoices/{invoice}/lines"
        return self._render_list(docs, has_more, url, "line_item", expand, version)

    def list_subscription_items(self, query: Query, version: ApiVersion) -> bytes:
        """`GET /v1/subscription_items?subscription=`: the items of one subscription."""
        _check_params(query, {*_PAGING, "subscription"})
        limit = parse_limit(query)
        expand = array(query, "expand")
        sub_id = scalar(query, "subscription")
        if sub_id is None:
            raise StripeError(
                400,
                "Missing required param: subscription.",
                code="parameter_missing",
                param="subscription",
            )
        raw = self.store.raw("subscription", sub_id)
        if raw is None:
            raise resource_missing("subscription", sub_id, param="subscription", status=400)
        items: list[dict[str, Any]] = (
            render(orjson.loads(raw), version).get("items", {}).get("data") or []
        )
        after, before = _cursor(query)
        cursor_id = after or before
        start, stop = 0, len(items)
        if cursor_id is not None:
            index = next((i for i, it in enumerate(items) if it.get("id") == cursor_id), None)
            if index is None:
                raise resource_missing(
                    "subscription_item",
                    cursor_id,
                    param="starting_after" if after is not None else "ending_before",
                    status=400,
                )
            if after is not None:
                start = index + 1
            else:
                stop = index
        if before is not None:
            page = items[max(start, stop - limit) : stop]
            has_more = stop - limit > start
        else:
            page = items[start : start + limit]
            has_more = start + limit < stop
        body: dict[str, Any] = {
            "object": "list",
            "data": page,
            "has_more": has_more,
            "url": "/v1/subscription_items",
        }
        if expand:
            expander = Expander(self.store, version)
            for path in expand:
                expander.expand(body, path)
        return orjson.dumps(body)

    # -- retrieve ------------------------------------------------------------------------

    def retrieve(self, coll: Collection, id_: str, query: Query, version: ApiVersion) -> bytes:
        """`GET /v1/<collection>/<id>`."""
        _check_params(query, {"expand"})
        expand = array(query, "expand")
        raw = self.store.raw(coll.object_name, id_)
        if raw is None:
            raise resource_missing(coll.object_name, id_, param="id", status=404)
        if not expand and not needs_reshape(coll.object_name, version):
            return raw
        doc = render(orjson.loads(raw), version)
        if expand:
            expander = Expander(self.store, version)
            for path in expand:
                expander.expand(doc, path)
        return orjson.dumps(doc)

    # -- dispatch ------------------------------------------------------------------------

    def route(self, method: str, path: str, query: Query, version: ApiVersion) -> bytes:
        """Answer one request, or raise StripeError."""
        parts = path.strip("/").split("/")
        if method in ("GET", "HEAD") and len(parts) >= 2 and parts[0] == "v1":
            name = parts[1]
            coll = COLLECTIONS.get(name)
            if coll is not None and len(parts) == 2:
                return self.list_collection(coll, query, version)
            if coll is not None and len(parts) == 3 and parts[2]:
                return self.retrieve(coll, parts[2], query, version)
            if name == "invoices" and len(parts) == 4 and parts[3] == "lines" and parts[2]:
                return self.list_lines(parts[2], query, version)
            if name == "subscription_items" and len(parts) == 2:
                return self.list_subscription_items(query, version)
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    async def endpoint(self, request: Request) -> Response:
        """The single Starlette endpoint: parse, dispatch, answer in Stripe's shapes."""
        headers = {"Request-Id": f"req_sandbox{next(_request_ids):010d}"}
        version = parse_version(request.headers.get("stripe-version"))
        if version is None:
            bad = request.headers.get("stripe-version", "")
            return _error(StripeError(400, f"Invalid Stripe API version: {bad}"), headers)
        headers["Stripe-Version"] = version.value
        try:
            query = parse_query(request.url.query)
            # SQLite calls are short and indexed; running them on the event loop avoids a
            # thread hop per request, which is most of the cost of a page.
            body = self.route(request.method, request.url.path, query, version)
        except StripeError as err:
            return _error(err, headers)
        except sqlite3.Error:
            log.exception("billing sandbox database error on %s", request.url.path)
            failure = StripeError(
                500,
                "An unknown error occurred while reading the billing database.",
                type_="api_error",
            )
            return _error(failure, headers)
        except Exception:
            # A bug must still answer in Stripe's shape, as Stripe's own 500s do.
            log.exception("billing sandbox failed on %s", request.url.path)
            failure = StripeError(500, "An unknown error occurred.", type_="api_error")
            return _error(failure, headers)
        return Response(content=body, media_type="application/json", headers=headers)


def _error(err: StripeError, headers: dict[str, str]) -> Response:
    return Response(
        content=orjson.dumps(err.body()),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(paths: schema.SandboxPaths) -> Starlette:
    """The billing API over the sandbox at `paths` (billing.sqlite and manifest.json).

    Args:
        paths: Where the sandbox's files live.

    Returns:
        A Starlette app serving Stripe v1 list and retrieve endpoints, without auth (the
        lead's `sandbox.http_common.wrap` adds it).
    """
    api = BillingApi(paths)
    app = Starlette(routes=[Route("/{path:path}", api.endpoint, methods=_METHODS)])
    app.state.billing_api = api
    return app
