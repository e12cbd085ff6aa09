"""The official stripe-python SDK against the billing API served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from sandbox.billing import create_app, testdata
from sandbox.schema import SandboxPaths
from sandbox.testing import serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, testdata.BillingData]]:
    paths = SandboxPaths(Path(tmp_path_factory.mktemp("billing_sdk")) / "sandbox")
    # more customers than one page of 100, so auto-paging has to follow starting_after
    data = testdata.build(paths, customers=260, invoices=120, big_invoice_lines=37)
    with serve(create_app(paths)) as base_url:
        yield base_url, data


@pytest.fixture
def sdk(served: tuple[str, testdata.BillingData], monkeypatch: pytest.MonkeyPatch) -> str:
    base_url, _ = served
    monkeypatch.setattr(stripe, "api_key", "sk_test_sandbox")
    monkeypatch.setattr(stripe, "api_base", base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    return base_url


def test_customer_auto_paging_yields_every_live_customer(
    sdk: str, served: tuple[str, testdata.BillingData]
) -> None:
    data = served[1]
    ids = [c.id for c in stripe.Customer.list(limit=100).auto_paging_iter()]
    assert ids == data.customers
    assert len(ids) > 100


def test_invoice_auto_paging_and_lines_past_the_first_10(
    sdk: str, served: tuple[str, testdata.BillingData]
) -> None:
    data = served[1]
    ids = [i.id for i in stripe.Invoice.list(limit=100).auto_paging_iter()]
    assert ids == data.invoices
    invoice = stripe.Invoice.retrieve(data.big_invoice)
    assert len(invoice.lines.data) == 10
    assert invoice.lines.has_more is True
    lines = list(invoice.lines.auto_paging_iter())
    assert [line.id for line in lines] == data.big_invoice_lines
    # stripe-python pins a basil-or-later version: the basil shapes come back
    assert lines[-1].parent.type == "subscription_item_details"
    assert lines[-1].pricing.price_details.price.startswith("price_")
    assert invoice.parent.subscription_details.subscription.startswith("sub_")
    assert "subscription" not in invoice


def test_backward_auto_paging_and_filters(
    sdk: str, served: tuple[str, testdata.BillingData]
) -> None:
    data = served[1]
    oldest = data.invoices[-1]
    ids = [i.id for i in stripe.Invoice.list(limit=7, ending_before=oldest).auto_paging_iter()]
    # stripe-python walks towards newer objects and yields them oldest first
    assert ids == list(reversed(data.invoices[:-1]))
    subs = stripe.Subscription.list(status="all", limit=3).auto_paging_iter()
    assert {s.id for s in subs} == set(data.subscriptions)


def test_client_object_with_expand_and_errors(
    served: tuple[str, testdata.BillingData],
) -> None:
    base_url, data = served
    client = stripe.StripeClient(
        "sk_test_sandbox", base_addresses={"api": base_url}, max_network_retries=0
    )
    invoice = client.v1.invoices.retrieve(data.manual_invoice, params={"expand": ["customer"]})
    assert invoice.customer.deleted is True
    page = client.v1.invoices.list(params={"limit": 2, "expand": ["data.customer"]})
    assert all(i.customer.object == "customer" for i in page.data)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.retrieve("in_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.invoices.list(params={"colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.http_status == 400
    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "colour"
