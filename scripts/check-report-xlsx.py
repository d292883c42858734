#!/usr/bin/env python3
"""Opens a costkit XLSX report with openpyxl (a real reader) and checks it against the JSON report
and the store's own sums written next to it (report.json, store-sums.json):

* every expected sheet is there and the workbook has native charts;
* the Summary totals, per currency: the number cell equals the JSON total rounded to the cent,
  the exact text cell equals the JSON string, and both equal the store's sums;
* the service breakdown's number cells add up to the total within half a cent per line.

Usage: check-report-xlsx.py DIR   (DIR holds report.xlsx, report.json, store-sums.json)
"""
import json
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl

SHEETS = [
    "Summary", "Daily", "Daily by service", "By service", "By account", "By region",
    "By provider", "By charge category", "By tag", "Movers", "Budgets", "Anomalies",
    "Forecast", "Recommendations", "Leaderboard",
]


def cents(s: str) -> Decimal:
    return Decimal(s).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def main() -> int:
    d = Path(sys.argv[1])
    report = json.loads((d / "report.json").read_text())
    store = json.loads((d / "store-sums.json").read_text())
    wb = openpyxl.load_workbook(d / "report.xlsx")
    assert wb.sheetnames == SHEETS, wb.sheetnames
    charts = sum(len(ws._charts) for ws in wb.worksheets)
    assert charts >= 3, f"native charts: {charts}"

    ws = wb["Summary"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == "Currency" and r[1] == "Billed")
    cols = rows[head]
    found = {}
    for r in rows[head + 1:]:
        if not r[0]:
            break
        found[r[0]] = dict(zip(cols, r))
    assert set(found) == {t["currency"] for t in report["totals"]}, (found, report["totals"])
    for t in report["totals"]:
        c = t["currency"]
        row = found[c]
        for basis, label in (("billed", "Billed"), ("effective", "Effective")):
            exact = t[basis]
            assert isinstance(row[label], (int, float)), f"{c} {label} is a number"
            assert Decimal(str(row[label])) == cents(exact), (c, label, row[label], exact)
            assert row[f"{label} (exact)"] == exact, (c, label, row[f"{label} (exact)"], exact)
            assert Decimal(store[c][basis]) == Decimal(exact), (c, basis, store[c][basis], exact)
        print(f"xlsx {c}: billed {row['Billed']} (exact {row['Billed (exact)']}) = JSON = store")

    ws = wb["By service"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == "Group")
    sums, n = {}, {}
    for r in rows[head + 1:]:
        if r[0] is None:
            break
        sums[r[1]] = sums.get(r[1], Decimal(0)) + Decimal(str(r[2]))
        n[r[1]] = n.get(r[1], 0) + 1
    for t in report["totals"]:
        c = t["currency"]
        diff = abs(sums[c] - Decimal(t["billed"]))
        assert diff <= Decimal("0.005") * n[c] + Decimal("0.005"), (c, sums[c], t["billed"])
    print(f"xlsx: {len(wb.sheetnames)} sheets, {charts} charts, service lines add up")
    check_sections(d)
    return 0


def rows_after(ws, first: str):
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == first)
    out = []
    for r in rows[head + 1:]:
        if r[0] is None:
            break
        out.append(dict(zip(rows[head], r)))
    return out


def check_sections(d: Path) -> None:
    """The report with recommendations and the leaderboard: the XLSX sheets carry the JSON's."""
    report = json.loads((d / "report-sections.json").read_text())
    wb = openpyxl.load_workbook(d / "report-sections.xlsx")
    recs = rows_after(wb["Recommendations"], "Source")
    assert len(recs) == len(report["recommendations"]) > 0, (recs, report["recommendations"])
    for row, rec in zip(recs, report["recommendations"]):
        assert row["Source"] == rec["source"], (row, rec)
        assert row["At stake (exact)"] == rec["amount"], (row, rec)
        assert Decimal(str(row["At stake"])) == cents(rec["amount"]), (row, rec)
    teams = rows_after(wb["Leaderboard"], "Rank")
    points = {r["Team"]: r["Points"] for r in teams}
    want = {s["team"]: s["points"] for s in report["leaderboard"]["standings"]}
    assert points == want and any(want.values()), (points, want)
    print(f"xlsx sections: {len(recs)} recommendations and leaderboard points {points} = JSON")


if __name__ == "__main__":
    sys.exit(main())
