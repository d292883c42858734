#!/usr/bin/env python3
"""Runs the official FOCUS validator on every FOCUS output in a folder and gates on the result.

    python3 scripts/validate-outputs.py OUT_DIR [--allowlist docs/validator-known-failures.tsv]
                                                [--reports DIR] [--strict]

Each `*.parquet` and `*.csv` in OUT_DIR is validated with `scripts/focus-validator.sh` (offline,
FOCUS 1.2, all applicability criteria) and its JUnit report is parsed. The run FAILS (exit 1) when
a rule on a FOCUS 1.2 *Mandatory* column fails (a rule id `<Column>-C-<nnn>-<M|C|O>` whose column is
Mandatory) and that (file, rule id) is not in the allowlist. `--strict` gates on every failed rule.
Composite rules (JUnit name `<rule> :: Composite`, e.g. `BilledCost-C-000-M`) and dataset-level rules
(`CostAndUsage-D-...`) only aggregate other rules and never gate: the rules they aggregate do.

Allowlist: a tab-separated file with columns `file glob`, `rule id` (glob allowed), `reason`;
`#` starts a comment. The file glob matches the output file's name (not its folder).
Standard library only, so any Python 3.8+ can run it (the validator itself runs in its venv).
"""

import argparse
import fnmatch
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

# FOCUS 1.2 Cost and Usage columns whose Feature Level is Mandatory.
MANDATORY = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
}
RULE_ID = re.compile(r"^(?P<entity>[A-Za-z]+)-(?P<kind>[A-Z])-(?P<num>\d+)-(?P<level>[A-Z])$")


def load_allowlist(path):
    entries = []
    if not path or not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 3 or not parts[2].strip():
                sys.exit(f"{path}:{n}: expected `file glob<TAB>rule id<TAB>reason`")
            entries.append({"file": parts[0].strip(), "rule": parts[1].strip(), "reason": parts[2].strip(), "used": 0})
    return entries


def parse_junit(path):
    """{rule id: (status, is_composite)} from the validator's JUnit file; status is pass/fail/skip."""
    results = {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name", "")
        rule = name.split(" :: ")[0].strip()
        composite = name.split(" :: ")[-1].strip() == "Composite"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "fail"
        elif case.find("skipped") is not None:
            status = "skip"
        else:
            status = "pass"
        results[rule] = (status, composite)
    return results


def gating(rule):
    m = RULE_ID.match(rule)
    return bool(m) and m.group("kind") == "C" and m.group("entity") in MANDATORY


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--allowlist", default=os.path.join(repo, "docs", "validator-known-failures.tsv"))
    ap.add_argument("--reports", help="folder for the JUnit reports (default: OUT_DIR/validator-reports)")
    ap.add_argument("--strict", action="store_true", help="gate on every failed rule, not only Mandatory columns")
    args = ap.parse_args()

    files = sorted(
        f for f in os.listdir(args.out_dir)
        if f.endswith((".parquet", ".csv")) and os.path.isfile(os.path.join(args.out_dir, f))
    )
    if not files:
        sys.exit(f"error: no .parquet or .csv files in {args.out_dir}")
    reports = os.path.abspath(args.reports or os.path.join(args.out_dir, "validator-reports"))
    os.makedirs(reports, exist_ok=True)
    allow = load_allowlist(args.allowlist)
    runner = os.path.join(here, "focus-validator.sh")

    blocking = []
    print(f"{'file':<72} {'pass':>5} {'fail':>5} {'skip':>5} {'gated':>6} {'allowed':>8}")
    for name in files:
        xml = os.path.join(reports, name + ".xml")
        if os.path.exists(xml):
            os.remove(xml)
        proc = subprocess.run(
            [runner, os.path.join(args.out_dir, name), "--output-type", "unittest", "--output-destination", xml],
            capture_output=True, text=True,
        )
        if proc.returncode != 0 or not os.path.exists(xml):
            print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
            blocking.append((name, "(validator run)", f"the validator did not produce a report (exit {proc.returncode})"))
            continue
        results = parse_junit(xml)
        counts = {s: sum(1 for v, _ in results.values() if v == s) for s in ("pass", "fail", "skip")}
        gated = allowed = 0
        for rule, (status, composite) in sorted(results.items()):
            if status != "fail" or composite or not (args.strict or gating(rule)):
                continue
            gated += 1
            hit = next((e for e in allow if fnmatch.fnmatch(name, e["file"]) and fnmatch.fnmatch(rule, e["rule"])), None)
            if hit:
                hit["used"] += 1
                allowed += 1
            else:
                blocking.append((name, rule, "not in the allowlist"))
        print(f"{name:<72} {counts['pass']:>5} {counts['fail']:>5} {counts['skip']:>5} {gated:>6} {allowed:>8}")

    unused = [e for e in allow if e["used"] == 0]
    if unused:
        print(f"\nnote: {len(unused)} allowlist entries matched no failure in this run (fixed, or outputs not present):")
        for e in unused:
            print(f"  {e['file']}\t{e['rule']}")
    if blocking:
        print(f"\nFAILED: {len(blocking)} failing rules on Mandatory columns are not in the allowlist:")
        for name, rule, why in blocking:
            print(f"  {name}\t{rule}\t{why}")
        print(f"(reports: {reports}; console detail: scripts/focus-validator.sh FILE --filter-rules RULE)")
        return 1
    print(f"\nOK: {len(files)} files; every failing Mandatory-column rule is allowlisted with a reason.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
