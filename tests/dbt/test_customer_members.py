"""One account, many billing and ERP customers (docs/models.md, Customer grain).

The built `small` warehouse is copied and its raw landing changed the way a company billing in
two currencies has it: a second Stripe customer in euros (with a paid invoice) and a second
NetSuite customer in the European subsidiary for one account, and a second Stripe customer in
pounds with no ERP customer for another. The customer models rebuild without a uniqueness
failure, the invoice rolls up to the account's canonical customer, each billing customer pairs
with the ERP customer of its currency, and `customer_missing_in_erp` is raised for the pound
customer alone, whose ERP customer write-back would create keyed `<account id>-GBP` (the
account id is the first ERP customer's).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.dbt.conftest import Built
from tests.dbt.test_conventions import Company

#: the models of the customer grain and the ones that roll up through it (built with their tests)
SELECT = (
    "int_customers_matched customer_xref customer_xref_members int_customers_classified "
    "dim_customer fct_invoice int_recon_customers int_recon_discrepancies recon_exceptions "
    "erp_corrections"
)


def test_an_account_billed_in_two_currencies_builds_and_rolls_up(
    built: Built, tmp_path: Path
) -> None:
    company = Company(built, tmp_path)
    picked = company.rows(
        "select x.crm_account_id, x.billing_customer_id, x.erp_customer_id, x.customer_id "
        "from core.customer_xref as x "
        "inner join raw_billing.customers as c on c.id = x.billing_customer_id "
        "inner join raw_erp.customer as e on cast(e.id as varchar) = x.erp_customer_id "
        "where x.match_method = 'id' and x.billing_customer_count = 1 "
        "and x.erp_customer_count = 1 and c.currency = 'usd' and e.currency = 1 "
        "and x.billing_customer_id in "
        "(select customer from raw_billing.invoices where status = 'paid') "
        "order by x.crm_account_id limit 2"
    )
    assert len(picked) == 2
    a, b = picked
    company.sql(
        # account a: billed in euros too, and booked by the European subsidiary
        "insert into raw_billing.customers select * replace "
        "('cus_second_eur' as id, 'eur' as currency) "
        f"from raw_billing.customers where id = '{a['billing_customer_id']}'",
        "insert into raw_erp.customer select * replace (990001 as id, 'CUST990001' as entityid, "
        f"'{a['crm_account_id']}-EUR' as externalid, 2 as subsidiary, 2 as currency) "
        f"from raw_erp.customer where id = {a['erp_customer_id']}",
        "insert into raw_billing.invoices select * replace ('in_second_eur' as id, "
        "'cus_second_eur' as customer, 'eur' as currency, 'SECOND-0001' as number, "
        "null as charge, null as payment_intent, null as subscription) "
        "from (select * from raw_billing.invoices "
        f"where customer = '{a['billing_customer_id']}' and status = 'paid' "
        "order by id limit 1)",
        # account b: billed in pounds too, with no ERP customer for them
        "insert into raw_billing.customers select * replace "
        "('cus_second_gbp' as id, 'gbp' as currency) "
        f"from raw_billing.customers where id = '{b['billing_customer_id']}'",
    )
    outcome = company.build("--select", SELECT)
    assert outcome.success, outcome.failures or outcome.exception

    xref = company.rows(
        "select billing_customer_id, erp_customer_id, billing_customer_count, "
        "erp_customer_count from core.customer_xref "
        f"where crm_account_id = '{a['crm_account_id']}'"
    )
    assert len(xref) == 1
    assert (xref[0]["billing_customer_count"], xref[0]["erp_customer_count"]) == (2, 2)
    members = {
        (r["source_system"], r["source_customer_id"]): r
        for r in company.rows(
            "select * from core.customer_xref_members "
            f"where crm_account_id in ('{a['crm_account_id']}', '{b['crm_account_id']}')"
        )
    }
    # every record of a on its one canonical customer; each billing customer with the ERP
    # customer of its currency
    on_a = {k for k, r in members.items() if r["customer_id"] == a["customer_id"]}
    assert on_a == {
        ("crm", a["crm_account_id"]),
        ("billing", a["billing_customer_id"]),
        ("billing", "cus_second_eur"),
        ("erp", a["erp_customer_id"]),
        ("erp", "990001"),
    }
    assert members[("billing", a["billing_customer_id"])]["erp_customer_id"] == a["erp_customer_id"]
    assert members[("billing", "cus_second_eur")]["erp_customer_id"] == "990001"
    assert members[("billing", "cus_second_gbp")]["customer_id"] == b["customer_id"]
    assert members[("billing", "cus_second_gbp")]["erp_customer_id"] is None

    invoice = company.rows(
        "select customer_id, billing_customer_id from core.fct_invoice "
        "where invoice_id = 'in_second_eur'"
    )
    assert invoice == [{"customer_id": a["customer_id"], "billing_customer_id": "cus_second_eur"}]
    assert (
        company.rows(
            "select count(*) as n from core.dim_customer "
            f"where crm_account_id = '{a['crm_account_id']}'"
        )[0]["n"]
        == 1
    )

    missing = company.rows(
        "select crm_id, billing_id from intermediate.int_recon_customers "
        "where exception_type = 'customer_missing_in_erp' "
        f"and crm_id in ('{a['crm_account_id']}', '{b['crm_account_id']}')"
    )
    assert missing == [{"crm_id": b["crm_account_id"], "billing_id": "cus_second_gbp"}]
    created = company.rows(
        "select external_id, desired_value, payload from writeback.erp_corrections "
        "where exception_type = 'customer_missing_in_erp' "
        f"and external_id like '{b['crm_account_id']}%'"
    )
    key = f"{b['crm_account_id']}-GBP"
    assert [(r["external_id"], r["desired_value"]) for r in created] == [(key, key)]
    body = json.loads(created[0]["payload"])
    assert body["externalId"] == key
    # the pound customer's ERP customer is booked in pounds, by the subsidiary keeping them
    assert (body["currency"], body["subsidiary"]) == ({"id": "3"}, {"id": "3"}), body
