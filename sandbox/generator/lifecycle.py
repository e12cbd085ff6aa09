"""The company's life cycle in the CRM: accounts, opportunities, onboarding, contracts, renames."""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox import schema
from sandbox.generator import money, mrr
from sandbox.generator.catalog import (
    CITIES,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    NAME_LEFT,
    NAME_RIGHT,
    NAME_SUFFIX,
    PRODUCTS,
    SUBSIDIARIES,
    SUBSIDIARY_WEIGHTS,
    TITLES,
)
from sandbox.generator.daykey import day_key as _d
from sandbox.generator.fastids import cached_sf_id
from sandbox.generator.state import Contract, Customer
from sandbox.generator.store import CRM_COLS
from sandbox.generator.stripe_docs import customer_doc
from sandbox.generator.timeutil import DAY, add_months, date_of, epoch_of, sf_datetime

RECENT = 60 * DAY  # "recently won" window for the customer-level faults


def prospecting_opp(
    opp_id: str,
    account_id: str,
    name: str,
    opp_type: str,
    close: int,
    currency: str,
    created: str,
    modified: str,
) -> dict[str, Any]:
    """A new Opportunity row at the first stage (`close_won_opp` or a loss closes it)."""
    return {
        "Id": opp_id,
        "AccountId": account_id,
        "ContractId": None,
        "Name": name,
        "StageName": "Prospecting",
        "Type": opp_type,
        "Amount": None,
        "Probability": 10.0,
        "CloseDate": _d(close),
        "IsClosed": 0,
        "IsWon": 0,
        "CurrencyIsoCode": currency,
        "IsDeleted": 0,
        "CreatedDate": created,
        "LastModifiedDate": modified,
        "SystemModstamp": modified,
    }


class LifecycleMixin:
    """A prospect becomes a customer (or not), signs contracts, is renamed, is cleaned up.

    Combined into `sandbox.generator.engine.Simulation`, whose state, id helpers, fault
    accumulators and queue (`push`, `event`, `record_gt`, ...) its methods use.
    """

    # ------------------------------------------------------------------ CRM
    def new_account(self, created: int) -> dict[str, Any]:
        sub = self.rng.choices(SUBSIDIARIES, SUBSIDIARY_WEIGHTS)[0]
        country = self.rng.choice(sub.customer_countries)
        n = self.next_n("company")
        left = NAME_LEFT[n % len(NAME_LEFT)]
        right = NAME_RIGHT[(n // len(NAME_LEFT)) % len(NAME_RIGHT)]
        series = n // (len(NAME_LEFT) * len(NAME_RIGHT))
        base = f"{left} {right}" + (f" {series + 1}" if series else "")
        name = f"{base} {self.rng.choice(NAME_SUFFIX[country])}"
        domain = base.lower().replace(" ", "") + (".co.jp" if country == "JP" else ".com")
        acc_id = self.sfid("Account")
        ts = sf_datetime(created)
        row = {
            "Id": acc_id,
            "Name": name,
            "Type": self.profile.prospect_type(self.seed, acc_id),
            "Industry": self.rng.choice(INDUSTRIES),
            "Website": f"https://www.{domain}",
            "Phone": f"+1-555-{self.rng.randint(1000000, 9999999)}",
            "BillingStreet": f"{self.rng.randint(1, 999)} Market Street",
            "BillingCity": self.rng.choice(CITIES[country]),
            "BillingPostalCode": f"{self.rng.randint(10000, 99999)}",
            "BillingCountry": country,
            "NumberOfEmployees": int(self.rng.lognormvariate(4.5, 1.2)) + 5,
            "CurrencyIsoCode": sub.currency,
            "OwnerId": cached_sf_id(schema.CRM_KEY_PREFIX["User"], 1 + n % 7),
            "Tax_Id__c": f"{country}{self.rng.randint(10**8, 10**9 - 1)}",
            "IsDeleted": 0,
            "CreatedDate": ts,
            "LastModifiedDate": ts,
            "SystemModstamp": ts,
            "_sub": sub.key,
            "_domain": domain,
        }
        return row

    def new_opportunity(
        self,
        created: int,
        close: int,
        *,
        won: bool,
        cust: Customer | None = None,
        second_of: Customer | None = None,
    ) -> None:
        """A new opportunity: a new account's, a customer's reactivation (`cust`), or a
        customer's business in a second currency (`second_of`: billed by a second Stripe
        customer, booked by a second ERP customer in the subsidiary of that currency)."""
        sub_key = None
        if second_of is not None:
            account = second_of.account_row
            other = next(
                s
                for s in SUBSIDIARIES
                if s.key != second_of.sub_key and s.currency != second_of.currency
            )
            currency, sub_key = other.currency, other.key
        else:
            account = (
                cust.account_row
                if cust
                else self.new_account(created - self.rng.randint(0, 30) * DAY)
            )
            currency = cust.currency if cust else account["CurrencyIsoCode"]
        if cust is None and second_of is None:
            if account["_sub"] != "US" and self.rng.random() < 0.05:
                currency = "USD"  # a non-US entity that contracts in dollars
            if account["_sub"] == "US" and self.profile.bills_in_kwd(self.seed, account["Id"]):
                currency = "KWD"  # a Kuwaiti customer of the US entity, billed in dinar
        opp_id = self.sfid("Opportunity")
        wire = cust.wire if cust else self.rng.random() < self.usage_share
        frequency = "Annual" if wire or self.rng.random() < 0.15 else "Monthly"
        if frequency == "Monthly" and self.profile.bills_quarterly(self.seed, account["Id"]):
            frequency = "Quarterly"  # billed every 3 months (profile switch, off in classic)
        term = 24 if self.rng.random() < 0.25 else 12
        terms = self.plan_terms(wire)
        ts = sf_datetime(created)
        opp = prospecting_opp(
            opp_id,
            account["Id"],
            f"{account['Name']} - " + ("Reactivation" if cust else "New Business"),
            "New Business",
            close,
            currency,
            ts,
            ts,
        )
        meta = {
            "row": opp,
            "account": account,
            "won": won,
            "cust": cust.n if cust else None,
            "terms": terms,
            "frequency": frequency,
            "term": term,
            "wire": wire,
            "currency": currency,
            "created": created,
            "close": close,
            "kind": "reactivation" if cust else "new",
        }
        if sub_key is not None:
            meta["sub_key"] = sub_key
        self.open_opps[opp_id] = meta
        if cust is None and second_of is None:
            self.st.crm_row("Account", account)
        self.push(close, "opp_close", opp_id)

    def plan_terms(self, wire: bool) -> dict[str, int]:
        seats = int(self.rng.lognormvariate(2.8, 0.9)) + 3
        if wire:
            seats += 100
        terms = {"PLAT-SEAT": seats}
        if self.rng.random() < 0.35:
            terms["ADDON-ANALYTICS"] = max(1, seats // self.rng.choice((1, 2)))
        if wire or (seats > 80 and self.rng.random() < 0.5):
            terms["SUPPORT-ENTERPRISE"] = 1
        elif self.rng.random() < 0.2:
            terms["SUPPORT-PREMIUM"] = 1
        return terms

    def stage_for(self, meta: dict[str, Any], now: int) -> tuple[str, float, int]:
        created, close = meta["created"], meta["close"]
        frac = (now - created) / max(1, close - created)
        stages = (
            ("Prospecting", 10.0),
            ("Qualification", 20.0),
            ("Proposal/Price Quote", 50.0),
            ("Negotiation/Review", 80.0),
        )
        k = min(3, max(0, int(frac * 4)))
        changed = created + (close - created) * k // 4
        return stages[k][0], stages[k][1], changed

    def opp_amount(self, terms: dict[str, int], currency: str, frequency: str, term: int) -> int:
        interval = mrr.INTERVAL_OF.get(frequency, "month")
        periods = term // mrr.MONTHS[interval]
        return sum(
            self.book.price_amount[(code, currency, interval)] * qty * periods
            for code, qty in terms.items()
        )

    def oli_rows(
        self, opp_id: str, terms: dict[str, int], currency: str, interval: str, t: int, start: str
    ) -> list[dict[str, Any]]:
        rows = []
        ts = sf_datetime(t)
        billed = {"year": "yearly", "quarter": "quarterly"}.get(interval, "monthly")
        for p in PRODUCTS:
            if p.code not in terms:
                continue
            unit = self.book.price_amount[(p.code, currency, interval)]
            qty = terms[p.code]
            rows.append(
                {
                    "Id": self.sfid("OpportunityLineItem"),
                    "OpportunityId": opp_id,
                    "Product2Id": cached_sf_id(schema.CRM_KEY_PREFIX["Product2"], p.n),
                    "PricebookEntryId": cached_sf_id(
                        schema.CRM_KEY_PREFIX["PricebookEntry"],
                        p.n * 10 + ("USD", "EUR", "GBP", "JPY", "KWD").index(currency),
                    ),
                    "Name": p.name,
                    "Quantity": float(qty),
                    "UnitPrice": money.major_text(unit, currency),
                    "ListPrice": money.major_text(unit, currency),
                    "TotalPrice": money.major_text(unit * qty, currency),
                    "ServiceDate": start,
                    "Description": f"{p.name}, billed {billed}",
                    "IsDeleted": 0,
                    "CreatedDate": ts,
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                }
            )
        return rows

    def close_won_opp(
        self,
        opp: dict[str, Any],
        *,
        t: int,
        opp_type: str,
        contract: Contract,
        terms: dict[str, int],
        interval: str,
        amount: int | None = None,
    ) -> None:
        """Win `opp` on `contract` with `terms`; its Amount is the terms' total contract value
        unless `amount` (minor units) says otherwise (an amendment entered as the change)."""
        ts = sf_datetime(t)
        if amount is None:
            amount = self.opp_amount(terms, contract.currency, contract.frequency, contract.term)
        opp.update(
            {
                "StageName": "Closed Won",
                "Type": opp_type,
                "ContractId": contract.id,
                "Probability": 100.0,
                "CloseDate": _d(t),
                "IsClosed": 1,
                "IsWon": 1,
                "Amount": money.major_text(amount, contract.currency),
                "LastModifiedDate": ts,
                "SystemModstamp": ts,
            }
        )
        self.st.crm_row("Opportunity", opp)
        for row in self.oli_rows(opp["Id"], terms, contract.currency, interval, t, contract.start):
            self.st.crm_row("OpportunityLineItem", row)

    def contract_value(self, contract: Contract) -> int:
        """The total contract value of the terms in force on `contract` (minor units)."""
        return self.opp_amount(contract.terms, contract.currency, contract.frequency, contract.term)

    def ledger_booking(
        self,
        t: int,
        currency: str,
        *,
        new: int = 0,
        change: int = 0,
        renewal: int = 0,
    ) -> None:
        """Book a won opportunity in the ledger (docs/metrics.md, Bookings): its new business,
        its change against the terms in force before (expansion when positive, contraction when
        negative) and the renewed base; each part in USD at the close date's rate, and
        `bookings` as the sum of the parts in both currencies."""
        parts = (
            (self.ledger.bookings_new, new),
            (self.ledger.bookings_expansion, max(change, 0)),
            (self.ledger.bookings_contraction, min(change, 0)),
            (self.ledger.bookings_renewal, renewal),
        )
        for table, minor in parts:
            self.ledger_add(table, t, currency, minor)
            scratch: dict[tuple[str, str], list[int]] = {}
            self.ledger_add(scratch, t, currency, minor)
            for key, (amount, usd) in scratch.items():
                cell = self.ledger.bookings.setdefault(key, [0, 0])
                cell[0] += amount
                cell[1] += usd

    def on_opp_close(self, t: int, opp_id: str) -> None:
        meta = self.open_opps.pop(opp_id)
        opp = meta["row"]
        if not meta["won"]:
            ts = sf_datetime(t)
            opp.update(
                {
                    "StageName": "Closed Lost",
                    "Probability": 0.0,
                    "IsClosed": 1,
                    "CloseDate": _d(t),
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                }
            )
            self.st.crm_row("Opportunity", opp)
            if self.rng.random() < 0.05:
                self.push(t + self.rng.randint(1, 60) * DAY, "crm_delete", opp)
            return
        if meta["kind"] == "reactivation":
            c = self.customers[meta["cust"]]
            if c.stripe_deleted or c.subs:
                # the customer was deleted in billing meanwhile or came back another way
                opp["StageName"] = "Closed Lost"
                opp.update({"IsClosed": 1, "Probability": 0.0, "CloseDate": _d(t)})
                opp["LastModifiedDate"] = opp["SystemModstamp"] = sf_datetime(t)
                self.st.crm_row("Opportunity", opp)
                return
        else:
            c = self.onboard_customer(meta, t)
        self.start_contract(c, meta, t, opp)

    def onboard_customer(self, meta: dict[str, Any], t: int) -> Customer:
        acc = meta["account"]
        n = self.next_n("customer")
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        second = "sub_key" in meta  # the account's second currency (multi_currency_share)
        c = Customer(
            n=n,
            account_id=acc["Id"],
            sub_key=meta.get("sub_key", acc["_sub"]),
            country=acc["BillingCountry"],
            currency=meta["currency"],
            name=acc["Name"],
            email=f"billing@{acc['_domain']}",
            domain=acc["_domain"],
            tax_id=acc["Tax_Id__c"],
            city=acc["BillingCity"],
            street=acc["BillingStreet"],
            postal=acc["BillingPostalCode"],
            phone=acc["Phone"],
            industry=acc["Industry"],
            employees=acc["NumberOfEmployees"],
            account_row=acc,
            wire=meta["wire"],
        )
        self.customers[n] = c
        ts = sf_datetime(t)
        # the picklist value the org uses for customers (or, for a share of them in some
        # orgs, the old value nobody updated: only behaviour tells they are customers)
        new_type = self.profile.customer_type(self.seed, acc["Id"], acc["Type"])
        if new_type != acc["Type"]:
            acc.update({"Type": new_type, "LastModifiedDate": ts, "SystemModstamp": ts})
        for k in range(self.rng.randint(1, 3)):
            fn = first if k == 0 else self.rng.choice(FIRST_NAMES)
            ln = last if k == 0 else self.rng.choice(LAST_NAMES)
            self.st.crm_row(
                "Contact",
                {
                    "Id": self.sfid("Contact"),
                    "AccountId": c.account_id,
                    "FirstName": fn,
                    "LastName": ln,
                    "Name": f"{fn} {ln}",
                    "Email": f"{fn.lower()}.{ln.lower()}@{c.domain}",
                    "Title": self.rng.choice(TITLES),
                    "Phone": c.phone,
                    "IsDeleted": 0,
                    "CreatedDate": ts,
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                },
            )
        recent = t >= self.clock - RECENT
        legacy = t < self.clock - 180 * DAY
        fault = None
        if recent and not c.wire:
            # a second currency's customer is never missing in billing or the ERP (the first
            # one is found by the account having none, the second has its account's)
            for kind in ("sub",) if second else ("billing", "erp", "sub"):
                if self.due("customer_" + kind):
                    fault = kind
                    break
            meta["sub_missing"] = fault == "sub"
        # Stripe customer (the billing sync creates it a minute after the win)
        if fault != "billing":
            c.stripe_id = self.sid("cus")
            c.stripe_created = self.at(t, 60)
            c.stripe_name = c.name
            c.invoice_prefix = c.stripe_id[4:12].upper()
            c.stripe_meta = second or not (legacy and self.share("legacy_billing", 0.02))
            self.event(c.stripe_created, "customer.created", lambda: customer_doc(c, self.profile))
        # ERP customer (the legacy integration copies the CRM account)
        if fault != "erp":
            self.post_customer(c, t, legacy=legacy, faulted=fault is not None)
            if second:
                c.erp_extid = True  # keyed `<account id>-<currency>` (build: _flush_live)
        if fault == "billing":
            c.billing_missing_gt = self.record_gt(
                "customer_missing_in_billing",
                at=self.at(t, 60),
                crm_id=c.account_id,
                entered=t,
                erp_id=c.erp_id,
            )
        elif fault == "erp":
            c.erp_missing_gt = self.record_gt(
                "customer_missing_in_erp",
                at=self.at(t, 300),
                crm_id=c.account_id,
                entered=t,
                billing_id=c.stripe_id,
            )
        if (
            fault is None
            and not second
            and self.profile.opens_second_currency(self.seed, c.account_id)
        ):
            # weeks later the customer buys in a second currency (multi_currency_share)
            created = t + self.rng.randint(5, 20) * DAY
            self.new_opportunity(
                created, created + self.rng.randint(10, 30) * DAY, won=True, second_of=c
            )
        return c

    def start_contract(
        self, c: Customer, meta: dict[str, Any], t: int, opp: dict[str, Any]
    ) -> None:
        interval = mrr.INTERVAL_OF.get(meta["frequency"], "month")
        contract = self.new_contract(c, t, meta["term"], meta["frequency"], meta["terms"], True)
        self.close_won_opp(
            opp,
            t=t,
            opp_type="New Business",
            contract=contract,
            terms=meta["terms"],
            interval=interval,
        )
        # the customer's first won business is new; a returning customer's books as expansion,
        # and so does an account's business in a second currency (the same canonical customer)
        value = self.contract_value(contract)
        if meta["kind"] == "new" and "sub_key" not in meta:
            self.ledger_booking(t, contract.currency, new=value)
        else:
            self.ledger_booking(t, contract.currency, change=value)
        if c.stripe_id is None:
            contract.sub_missing_gt = self.record_gt(
                "subscription_missing",
                at=self.at(t, 120),
                crm_id=contract.id,
                entered=t,
                caused_by=c.billing_missing_gt,
            )
            return
        if meta.get("sub_missing"):
            contract.sub_missing_gt = self.record_gt(
                "subscription_missing", at=self.at(t, 120), crm_id=contract.id, entered=t
            )
            return
        self.create_subscription(c, contract, self.at(t, 120), interval, meta["terms"])

    def new_contract(
        self,
        c: Customer,
        t: int,
        term: int,
        frequency: str,
        terms: dict[str, int],
        activate: bool,
        start: date | None = None,
    ) -> Contract:
        start = start or date_of(t)
        end = add_months(epoch_of(start), term) - DAY
        contract = Contract(
            id=self.sfid("Contract"),
            number=f"{self.next_n('contract_number'):08d}",
            account_id=c.account_id,
            cust=c.n,
            start=start.isoformat(),
            end=_d(end),
            term=term,
            frequency=frequency,
            currency=c.currency,
            activated_at=t if activate else 0,
            created=t,
            modified=t,
            status="Activated" if activate else "Draft",
            terms=dict(terms),
        )
        self.contracts[contract.id] = contract
        c.contracts.append(contract.id)
        return contract

    # ------------------------------------------------------------------ CRM changes
    def on_rename(self, t: int, n: int) -> None:
        c = self.customers.get(n)
        if c is None or c.attr_fault or not c.erp_extid or not c.stripe_meta:
            return
        if self.profile.multi_currency_share > 0 and any(
            o.account_id == c.account_id and o.n != c.n for o in self.customers.values()
        ):
            return  # an account with a second currency's customer is not renamed
        base, _, suffix = c.name.rpartition(" ")
        if not base:
            return
        new_name = (
            f"{base} Group {suffix}" if " Group " not in c.name else f"{base} Holdings {suffix}"
        )
        ts = sf_datetime(t)
        c.name = new_name
        c.account_row.update({"Name": new_name, "LastModifiedDate": ts, "SystemModstamp": ts})
        if c.stripe_id and not c.stripe_deleted:
            prev = c.stripe_name
            c.stripe_name = new_name
            self.event(
                self.at(t, 90),
                "customer.updated",
                lambda: customer_doc(c, self.profile),
                {"name": prev},
            )
        if c.erp_id is not None:
            if self.due("rename"):
                c.attr_fault = True
                self.record_gt(
                    "customer_attribute_mismatch",
                    at=self.latency(t),
                    crm_id=c.account_id,
                    billing_id=c.stripe_id,
                    erp_id=c.erp_id,
                    field="companyname",
                    correct=new_name,
                    wrong=c.erp_name,
                )
            else:
                c.erp_name = new_name
                c.erp_modified = self.latency(t)

    def delete_lost_opportunity(self, t: int) -> None:
        """Someone cleans up the CRM: a lost opportunity goes to the recycle bin."""
        where = '"StageName" = \'Closed Lost\' and "IsDeleted" = 0'
        n = self.st.query("crm", f'select count(*) from "Opportunity" where {where}')[0][0]
        if not n:
            return
        names = CRM_COLS["Opportunity"]
        cols = ", ".join(f'"{name}"' for name in names)
        found = self.st.query(
            "crm",
            f'select {cols} from "Opportunity" where {where} order by "Id" limit 1 offset ?',
            (self.rng.randrange(n),),
        )
        row = dict(zip(names, found[0], strict=True))
        self.on_crm_delete(t, row)

    def on_crm_delete(self, t: int, row: dict[str, Any]) -> None:
        ts = sf_datetime(t)
        row.update({"IsDeleted": 1, "LastModifiedDate": ts, "SystemModstamp": ts})
        self.st.crm_row("Opportunity", row)
