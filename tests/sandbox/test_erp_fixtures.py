"""A small hand-built ERP dataset for the ERP API tests (rows inserted with plain SQL)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox import schema

CLOCK = "2025-03-15T12:00:00Z"
NOW = "2025-03-15 12:00:00"
CURRENCIES = [(1, "US Dollar", "USD", 2), (2, "Euro", "EUR", 2), (3, "British Pound", "GBP", 2),
              (4, "Japanese Yen", "JPY", 0)]  # fmt: skip
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def build(root: Path, n_invoices: int = 400, n_customers: int = 40) -> schema.SandboxPaths:
    """Create erp.sqlite under `root` with a deterministic company.

    Customers `1..n_customers` (externalid `001C<n>`), subsidiary `(n-1) % 4 + 1` with that
    subsidiary's currency. Invoice `k` (1-based) belongs to customer `(k-1) % n_customers + 1`,
    has `k % 3 + 1` item lines of `100 * line` each (JPY: `10000 * line`), a main line, trandate
    in Jan/Feb/Mar 2025 by `k % 3` (January is a closed period), memo NULL when `k % 5 == 0`.
    """
    paths = schema.SandboxPaths(root / "sandbox")
    schema.create_all(paths)
    paths.manifest.write_text(json.dumps({"clock": CLOCK, "seed": 1, "scale": "test"}))
    con = schema.connect(paths.erp)
    for cid, name, sym, prec in CURRENCIES:
        con.execute(
            "insert into currency values (?, ?, ?, ?, ?, ?, 'F', ?)",
            (cid, name, sym, sym, prec, "T" if cid == 1 else "F", NOW),
        )
        con.execute(
            "insert into subsidiary values (?, ?, ?, ?, ?, ?, 'F', 'F', ?)",
            (cid, f"Sub {sym}", f"Parent : Sub {sym}", sym[:2], cid, None if cid == 1 else 1, NOW),
        )
    rates = {2: 1.085, 3: 1.27, 4: 0.0067}
    for n, (cur, rate) in enumerate(rates.items(), 1):
        con.execute(
            "insert into currencyrate values (?, 1, ?, ?, '2025-01-01', ?)", (n, cur, rate, NOW)
        )
    for m in range(12):
        start = f"2025-{m + 1:02d}-01"
        end = f"2025-{m + 1:02d}-{[31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m]:02d}"
        con.execute(
            "insert into accountingperiod values (?, ?, ?, ?, 'F', 'F', 'F', 'T', ?, ?, ?)",
            (m + 1, f"{MONTHS[m]} 2025", start, end, "T" if m == 0 else "F",
             "T" if m == 0 else "F", NOW),
        )  # fmt: skip
    con.execute(
        "insert into accountingperiod values (13, 'Q1 2025', '2025-01-01', '2025-03-31', "
        "'T', 'F', 'F', 'F', 'F', 'F', ?)",
        (NOW,),
    )
    for iid, code in enumerate(["PLAT-SEAT", "ADDON-API", "SUPPORT-ENTERPRISE"], 1):
        con.execute(
            "insert into item values (?, ?, ?, 'Service', ?, 'F', ?)",
            (iid, code, code.title(), f"prod_{iid}", NOW),
        )
    for c in range(1, n_customers + 1):
        sub = (c - 1) % 4 + 1
        con.execute(
            "insert into customer values (?, ?, ?, ?, ?, ?, ?, NULL, ?, 'F', ?, ?)",
            (c, f"CUST{c:04d}", f"Company {c}", f"001C{c}", f"ap{c}@example.com", sub, sub,
             f"TAX{c}" if c % 2 else None, f"2025-01-0{c % 9 + 1} 08:00:00", NOW),
        )  # fmt: skip
    key = 1
    for k in range(1, n_invoices + 1):
        cust = (k - 1) % n_customers + 1
        cur = (cust - 1) % 4 + 1
        unit = Decimal(10000) if cur == 4 else Decimal(100)
        month = k % 3 + 1
        day = k % 28 + 1
        trandate = f"2025-{month:02d}-{day:02d}"
        n_lines = k % 3 + 1
        amounts = [unit * ln for ln in range(1, n_lines + 1)]
        total = sum(amounts, Decimal(0))
        fmt = (lambda d: str(d)) if cur == 4 else (lambda d: f"{d:.2f}")
        con.execute(
            f'insert into "transaction" values ({", ".join("?" * 18)})',
            (k, f"INV{k:07d}", "CustInvc", trandate, trandate, cust, cur, 1.0, fmt(total),
             fmt(total), "A", month, f"in_{k:06d}", f"in_{k:06d}",
             None if k % 5 == 0 else f"memo {k}", "F", f"{trandate} 09:30:00",
             f"{trandate} 10:{k % 60:02d}:00"),
        )  # fmt: skip
        rows = [(key, 0, k, 0, "T", "F", None, None, None, fmt(total), fmt(total), cur, cust,
                 None, None, None, f"{trandate} 10:00:00")]  # fmt: skip
        key += 1
        for ln, amount in enumerate(amounts, 1):
            rows.append(
                (key, ln, k, ln, "F", "F", ln, 1.0 * ln if ln % 2 else float(ln), fmt(amount / ln),
                 fmt(amount), fmt(amount), cur, cust, f"line {ln}", trandate, "2025-12-31",
                 f"{trandate} 10:00:00")
            )  # fmt: skip
            key += 1
        con.executemany(
            f"insert into transactionline values ({', '.join('?' * 17)})",
            rows,
        )
    con.commit()
    con.close()
    return paths


def test_fixture_builds(tmp_path: Path) -> None:
    """The fixture itself: the counts the other tests rely on."""
    paths = build(tmp_path, n_invoices=30, n_customers=6)
    con = schema.connect(paths.erp)
    assert con.execute('select count(*) from "transaction"').fetchone()[0] == 30
    assert con.execute("select count(*) from transactionline").fetchone()[0] == 30 + sum(
        k % 3 + 1 for k in range(1, 31)
    )
    con.close()


@pytest.fixture
def erp_paths(tmp_path: Path) -> schema.SandboxPaths:
    """A fresh small ERP database."""
    return build(tmp_path)
