"""`generate` and `advance`: build a sandbox from scratch, or move its clock forward."""

from __future__ import annotations

import csv
import gc
import json
import logging
import pickle
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox import schema
from sandbox.generator import money
from sandbox.generator.catalog import (
    CURRENCY_ERP_ID,
    CURRENCY_NAMES,
    CURRENCY_SYMBOLS,
    GENERATOR_VERSION,
    PRODUCTS,
    SCALES,
    SUBSIDIARIES,
)
from sandbox.generator.engine import EVENT_WINDOW, ProgressFn, Simulation
from sandbox.generator.ledger import write_ledger
from sandbox.generator.profile import DEFAULT_PROFILE, Profile, load_profile
from sandbox.generator.state import Contract
from sandbox.generator.store import Store, erp_max_id
from sandbox.generator.stripe_docs import customer_doc
from sandbox.generator.timeutil import add_months_date, epoch_of, iso_z, ns_datetime
from sandbox.generator.timeutil import sf_datetime as sfdt
from sandbox.ids import sf_id

log = logging.getLogger(__name__)

STATE_FILE = "generator_state.pickle"

#: summed peak RSS (KiB) of the writer processes of the last generate/advance in this process
last_writer_peak_rss = 0


def _noop(stage: str, fraction: float) -> None:
    return None


def generate(
    paths: schema.SandboxPaths,
    *,
    seed: int = 42,
    scale: str = "small",
    discrepancy_rate: float = 0.03,
    end: date = date(2026, 11, 1),
    months: int = 24,
    progress: ProgressFn | None = None,
    customers: int | None = None,
    profile: str | Path | Profile = DEFAULT_PROFILE,
) -> dict[str, Any]:
    """Build a new sandbox at `paths.root` (replacing any) and return its manifest.

    Args:
        paths: where the sandbox lives.
        seed: the simulation's seed; same seed, scale and end give identical data.
        scale: a key of SCALES (`small`, `medium`, `large`).
        discrepancy_rate: share of eligible records that get an injected fault.
        end: the clock (00:00:00 UTC of this date) at the end of the history.
        months: length of the history.
        progress: called as progress(stage, fraction) now and then.
        customers: override the scale's customer count (tests).
        profile: the company's conventions: a shipped profile's name (`classic`, the
            default, is the sandbox as it always was), a path to a `.toml` profile file, or
            a loaded `Profile`. Written resolved to profile.json; `advance` keeps it.

    Returns:
        The manifest dict also written to manifest.json.

    Raises:
        ValueError: unknown scale; `ProfileError` (a ValueError) for a bad profile.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    conventions = load_profile(profile)
    progress = progress or _noop
    cfg = SCALES[scale]
    start = add_months_date(end, -months)
    if paths.root.exists():
        for name in (
            schema.CRM_DB,
            schema.BILLING_DB,
            schema.ERP_DB,
            schema.GROUND_TRUTH,
            schema.LEDGER,
            schema.MANIFEST,
            schema.XREF_TRUTH,
            schema.PROFILE,
            STATE_FILE,
        ):
            for suffix in ("", "-wal", "-shm"):
                p = paths.root / (name + suffix)
                if p.exists():
                    p.unlink()
    schema.create_all(paths)
    sim = Simulation(
        seed=seed,
        scale=scale,
        customers=customers or cfg.customers,
        rate=discrepancy_rate,
        start=start,
        end=end,
        usage_share=cfg.usage_customers_share,
        profile=conventions,
    )
    paths.profile.write_text(json.dumps(conventions.as_json(), indent=2) + "\n")
    with _working(sim, Store(paths, bulk=True)):
        sim.events_from = epoch_of(end) - EVENT_WINDOW
        progress("setup", 0.0)
        _write_static(sim)
        sim.run(end, progress, "simulate")
        progress("write", 0.95)
        manifest = _finish(sim, paths, end, append_gt=False)
    progress("done", 1.0)
    return manifest


def advance(
    paths: schema.SandboxPaths, *, days: int, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Move an existing sandbox's clock forward by `days`, continuing its simulation.

    New activity lands as inserts and updates in the three databases, ERP rows written by
    the ERP API are not reverted, events older than 30 days are purged, and the manifest,
    ledger and xref truth are rewritten (ground truth is appended to).

    Returns:
        The new manifest.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    progress = progress or _noop
    state = paths.root / STATE_FILE
    if not state.exists():
        raise FileNotFoundError(f"{state} is missing: run generate first (advance continues it)")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # unpickling builds the whole live state: see _working
    try:
        with state.open("rb") as fh:
            sim: Simulation = pickle.load(fh)
    finally:
        if gc_was_enabled:
            gc.enable()
    old_clock = sim.day
    new_clock = old_clock + timedelta(days=days)
    sim.rng = random.Random(f"{sim.seed}:{old_clock.isoformat()}")
    with _working(sim, Store(paths, bulk=False)):
        sim.advance_mode = True
        sim.events_from = max(epoch_of(old_clock), epoch_of(new_clock) - EVENT_WINDOW)
        # the ERP API may have created records: continue numbering above them
        for table, col in (
            ("customer", "id"),
            ("transaction", "id"),
            ("transactionline", "uniquekey"),
        ):
            top = erp_max_id(sim.st, table, col) + 1
            sim.erp_next[table] = max(sim.erp_next.get(table, 1), top)
        sim.st.execute(
            "billing",
            "delete from events where created < ?",
            (epoch_of(new_clock) - EVENT_WINDOW,),
        )
        progress("simulate", 0.0)
        sim.run(new_clock, progress, "simulate")
        manifest = _finish(sim, paths, new_clock, append_gt=True)
    progress("done", 1.0)
    return manifest


@contextmanager
def _working(sim: Simulation, store: Store) -> Iterator[None]:
    """Attach the store to the simulation for a run; on failure stop its writer process.

    The cyclic garbage collector is off meanwhile: the live state is millions of long-lived
    objects that the simulation never links into cycles, and collecting them over and over
    cost a fifth of the run.
    """
    sim.store = store
    store.set_book(sim.seed, sim.book.created, sim.book.profile)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        store.abort()
        sim.store = None
        raise
    finally:
        if gc_was_enabled:
            gc.enable()


# ---------------------------------------------------------------------------------------------


def _write_static(sim: Simulation) -> None:
    st = sim.st
    t0 = sim.book.created
    for code, doc in sim.book.product_doc.items():
        del code
        st.billing_row("products", {"id": doc["id"], "created": t0, "active": 1, "doc": doc})
    for pid, doc in sim.book.price_doc.items():
        st.billing_row(
            "prices",
            {
                "id": pid,
                "created": t0,
                "product": doc["product"],
                "active": 1,
                "currency": doc["currency"],
                "doc": doc,
            },
        )
    ts = sfdt(t0)
    for p in PRODUCTS:
        st.crm_row(
            "Product2",
            {
                "Id": sf_id(schema.CRM_KEY_PREFIX["Product2"], p.n),
                "Name": p.name,
                "ProductCode": p.code,
                "Family": p.family,
                "IsActive": 1,
                "Description": p.name,
                "IsDeleted": 0,
                "CreatedDate": ts,
                "LastModifiedDate": ts,
                "SystemModstamp": ts,
            },
        )
    nts = ns_datetime(t0)
    for cur, cid in CURRENCY_ERP_ID.items():
        if cur not in sim.profile.currencies:
            continue
        st.erp_row(
            "currency",
            {
                "id": cid,
                "name": CURRENCY_NAMES[cur],
                "symbol": cur,
                "displaysymbol": CURRENCY_SYMBOLS[cur],
                "currencyprecision": money.EXPONENT[cur],
                "isbasecurrency": "T" if cur == "USD" else "F",
                "isinactive": "F",
                "lastmodifieddate": nts,
            },
        )
    for s in SUBSIDIARIES:
        st.erp_row(
            "subsidiary",
            {
                "id": s.erp_id,
                "name": s.name,
                "fullname": s.name if s.key == "US" else f"CloseLoop Inc. : {s.name}",
                "country": s.country,
                "currency": CURRENCY_ERP_ID[s.currency],
                "parent": None if s.key == "US" else 1,
                "iselimination": "F",
                "isinactive": "F",
                "lastmodifieddate": nts,
            },
        )
    for p in PRODUCTS:
        st.erp_row(
            "item",
            {
                "id": p.n,
                "itemid": p.code,
                "displayname": p.name,
                "itemtype": "Service",
                "externalid": sim.book.product_id[p.code]
                if sim.profile.item_externalid == "product_id"
                else None,
                "isinactive": "F",
                "lastmodifieddate": nts,
            },
        )


def _write_fx(sim: Simulation) -> None:
    daily = sim.profile.rate_cadence == "daily"
    for d in sorted(sim.fx):
        if d in sim.fx_written:
            continue
        sim.fx_written.add(d)
        if not daily and d not in sim.fx_effective:
            continue  # no rate entered that day: the one in force stays
        rates = sim.fx[d]
        modified = ns_datetime(epoch_of(date.fromisoformat(d)))
        for cur in sim.profile.fx_currencies:
            sim.st.erp_row(
                "currencyrate",
                {
                    "id": sim.erp_id("currencyrate"),
                    "basecurrency": CURRENCY_ERP_ID["USD"],
                    "transactioncurrency": CURRENCY_ERP_ID[cur],
                    "exchangerate": float(rates[cur]),
                    "effectivedate": d,
                    "lastmodifieddate": modified,
                },
            )
            # USD in the subsidiary's currency, for dollar invoices of the other entities
            sim.st.erp_row(
                "currencyrate",
                {
                    "id": sim.erp_id("currencyrate"),
                    "basecurrency": CURRENCY_ERP_ID[cur],
                    "transactioncurrency": CURRENCY_ERP_ID["USD"],
                    "exchangerate": float(money.round_half_away(Decimal(1) / rates[cur], 6)),
                    "effectivedate": d,
                    "lastmodifieddate": modified,
                },
            )


def _write_periods(sim: Simulation, clock: date) -> None:
    """Accounting periods from the start's year to the clock's year, closed 45 days back."""
    existing = {r[0]: r[1] for r in sim.st.query("erp", "select id, closed from accountingperiod")}
    cutoff = clock - timedelta(days=45)
    ts = ns_datetime(epoch_of(clock))
    rows = []
    for year in range(sim.start.year, clock.year + 1):
        months = []
        for m in range(1, 13):
            first = date(year, m, 1)
            last = (date(year + (m == 12), 1 if m == 12 else m + 1, 1)) - timedelta(days=1)
            months.append((sim.period_id(first.isoformat()), first, last, "F", "F"))
        quarters = [
            ((year - 2000) * 100 + 20 + q, months[3 * q][1], months[3 * q + 2][2], "T", "F")
            for q in range(4)
        ]
        rows += [((year - 2000) * 100, date(year, 1, 1), date(year, 12, 31), "F", "T")]
        rows += quarters + months
    for pid, first, last, isq, isy in rows:
        closed = "T" if last < cutoff else "F"
        if pid in existing:
            if existing[pid] != closed:
                sim.st.execute(
                    "erp",
                    "update accountingperiod set closed = ?, arlocked = ?, lastmodifieddate = ?"
                    " where id = ?",
                    (closed, closed, ts, pid),
                )
            continue
        if isy == "T":
            name = f"FY {first.year}"
        elif isq == "T":
            name = f"Q{(first.month - 1) // 3 + 1} {first.year}"
        else:
            name = first.strftime("%b %Y")
        sim.st.erp_row(
            "accountingperiod",
            {
                "id": pid,
                "periodname": name,
                "startdate": first.isoformat(),
                "enddate": last.isoformat(),
                "isquarter": isq,
                "isyear": isy,
                "isadjust": "F",
                "isposting": "T" if isq == "F" and isy == "F" else "F",
                "closed": closed,
                "arlocked": closed,
                "lastmodifieddate": ts,
            },
        )


def _contract_row(k: Contract) -> dict[str, Any]:
    return {
        "Id": k.id,
        "AccountId": k.account_id,
        "ContractNumber": k.number,
        "Status": k.status,
        "StartDate": k.start,
        "EndDate": k.end,
        "ContractTerm": k.term,
        "Billing_Frequency__c": k.frequency,
        "CurrencyIsoCode": k.currency,
        "ActivatedDate": sfdt(k.activated_at) if k.activated_at else None,
        "IsDeleted": 0,
        "CreatedDate": sfdt(k.created),
        "LastModifiedDate": sfdt(k.modified),
        "SystemModstamp": sfdt(k.modified),
    }


def _flush_live(sim: Simulation) -> None:
    st = sim.st
    # an account's first customer; a later one (multi_currency_share) is a second currency's,
    # whose ERP customer is keyed `<account id>-<currency>` (NetSuite external ids are unique)
    first_of: dict[str, int] = {}
    for n in sorted(sim.customers):
        first_of.setdefault(sim.customers[n].account_id, n)
    for n in sorted(sim.customers):
        c = sim.customers[n]
        st.crm_row("Account", c.account_row)
        if c.stripe_id:
            st.billing_row(
                "customers",
                {
                    "id": c.stripe_id,
                    "created": c.stripe_created,
                    "deleted": 1 if c.stripe_deleted else 0,
                    "email": c.email,
                    "doc": customer_doc(c, sim.profile),
                },
            )
        if c.erp_id is None:
            continue
        if not c.erp_written:
            c.erp_written = True
            c.erp_name_written = c.erp_name
            st.erp_row(
                "customer",
                {
                    "id": c.erp_id,
                    "entityid": f"CUST{c.erp_id:06d}",
                    "companyname": c.erp_name,
                    "externalid": (
                        None
                        if not c.erp_extid
                        else c.account_id
                        if first_of[c.account_id] == n
                        else f"{c.account_id}-{c.currency}"
                    ),
                    "email": c.email,
                    "subsidiary": next(s.erp_id for s in SUBSIDIARIES if s.key == c.sub_key),
                    "currency": CURRENCY_ERP_ID[c.currency],
                    "terms": 2,
                    "custentity_cl_tax_id": c.tax_id,
                    "isinactive": "F",
                    "datecreated": ns_datetime(c.erp_created),
                    "lastmodifieddate": ns_datetime(c.erp_modified),
                },
            )
        elif c.erp_name != c.erp_name_written:
            st.execute(
                "erp",
                "update customer set companyname = ?, lastmodifieddate = ? where id = ?",
                (c.erp_name, ns_datetime(c.erp_modified), c.erp_id),
            )
            st.execute(
                "erp",
                "insert into _record_version (record_type, id, version) values ('customer', ?, 2)"
                " on conflict (record_type, id) do update set version = version + 1",
                (c.erp_id,),
            )
            c.erp_name_written = c.erp_name
    for k in sim.contracts.values():
        st.crm_row("Contract", _contract_row(k))
    for s in sim.subs.values():
        st.billing_row("subscriptions", sim.sub_row(s, sim.customers[s.cust]))
    for inv_id in sorted(sim.invoices):
        sim.flush_invoice(sim.invoices[inv_id])
    clock_t = sim.clock
    for meta in sim.open_opps.values():
        opp = meta["row"]
        if meta["created"] >= clock_t:
            continue
        stage, prob, changed = sim.stage_for(meta, clock_t)
        ts = sfdt(min(changed, clock_t - 1))
        opp.update(
            {"StageName": stage, "Probability": prob, "LastModifiedDate": ts, "SystemModstamp": ts}
        )
        st.crm_row("Opportunity", opp)


def _write_xref(sim: Simulation, paths: schema.SandboxPaths) -> None:
    with paths.xref_truth.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            ("crm_account_id", "billing_customer_id", "erp_customer_id", "link_billing", "link_erp")
        )
        for n in sorted(sim.customers):
            c = sim.customers[n]
            link_b = "missing" if c.stripe_id is None else ("id" if c.stripe_meta else "fuzzy")
            link_e = "missing" if c.erp_id is None else ("id" if c.erp_extid else "fuzzy")
            w.writerow(
                (
                    c.account_id,
                    c.stripe_id or "",
                    "" if c.erp_id is None else str(c.erp_id),
                    link_b,
                    link_e,
                )
            )


def _finish(
    sim: Simulation, paths: schema.SandboxPaths, clock: date, *, append_gt: bool
) -> dict[str, Any]:
    _write_fx(sim)
    _write_periods(sim, clock)
    _flush_live(sim)
    # the writer applies the backlog while the files below are written
    sim.st.flush()
    partial = None
    if clock.day != 1:
        partial, _ = sim.snapshot_values()
    write_ledger(
        paths.ledger,
        sim.ledger,
        start=sim.start,
        clock=clock,
        partial=partial,
        rate_on=sim.fx,
        currencies=sim.profile.currencies,
    )
    _write_xref(sim, paths)
    mode = "a" if append_gt else "w"
    with paths.ground_truth.open(mode) as fh:
        for entry in sim.gt:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
    sim.gt = []
    manifest = {
        "seed": sim.seed,
        "scale": sim.scale,
        "profile": sim.profile.name,
        "discrepancy_rate": sim.rate,
        "start": iso_z(epoch_of(sim.start)),
        "clock": iso_z(epoch_of(clock)),
        "counts": sim.st.counts(),
        "generator_version": GENERATOR_VERSION,
    }
    store = sim.st
    # the writer commits and builds the indexes while the state is pickled
    store.close_async()
    sim.store = None
    tmp = paths.root / (STATE_FILE + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(sim, fh, protocol=pickle.HIGHEST_PROTOCOL)
    shutil.move(tmp, paths.root / STATE_FILE)
    store.wait_closed()
    global last_writer_peak_rss
    last_writer_peak_rss = sum(store.writer_peak_rss)
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("sandbox at %s: clock %s", paths.root, manifest["clock"])
    return manifest
