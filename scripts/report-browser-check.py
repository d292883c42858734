#!/usr/bin/env python3
"""Headless Chromium checks of the HTML report and the dashboard (Selenium, chromedriver from
Debian's chromium-driver; Selenium Manager is never asked to download anything).

  report-browser-check.py OUT_DIR REPORT_URL... -- DASHBOARD_URL

* each report URL (file:// or http://) renders: screenshot, at least three SVG charts with drawn
  shapes, the totals shown, no console errors;
* the dashboard (a signed link) loads its data, draws SVG charts, and choosing a provider in the
  filter changes the totals shown (checked against the exact sum of that provider's rows).

Screenshots go to OUT_DIR. Exits non-zero on any failure.
"""
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1600", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def console_errors(d):
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def check_report(d, url, shot, band=False):
    d.get(url)
    WebDriverWait(d, 20).until(lambda x: x.execute_script("return document.readyState") == "complete")
    charts = d.find_elements(By.CSS_SELECTOR, "svg.chart")
    kinds = sorted({c.get_attribute("data-chart") for c in charts})
    shapes = d.execute_script(
        "return document.querySelectorAll('svg.chart rect, svg.chart polyline, svg.chart polygon').length")
    assert len(charts) >= 3, f"{url}: {len(charts)} charts"
    assert {"daily-forecast", "daily-by-service", "burn-down"} <= set(kinds), kinds
    assert shapes > 20, f"{url}: {shapes} shapes drawn"
    if band:
        bands = d.find_elements(By.CSS_SELECTOR, "svg.chart polygon.band80, svg.chart polygon.band95")
        assert len(bands) >= 2, f"{url}: forecast bands {len(bands)}"
    kpi = d.find_element(By.CSS_SELECTOR, ".kpi .value").text
    assert kpi, "a total is shown"
    d.save_screenshot(str(shot))
    errs = console_errors(d)
    assert not errs, f"{url}: console errors {errs}"
    print(f"report {url[:60]}: {len(charts)} charts {kinds}, {shapes} shapes, total {kpi}, screenshot {shot}")


def check_sections(d, url, report, shot):
    """The report's recommendations and leaderboard sections render with the JSON's rows."""
    d.get(url)
    WebDriverWait(d, 20).until(lambda x: x.execute_script("return document.readyState") == "complete")
    recs = d.find_elements(By.CSS_SELECTOR, "section#recommendations table tbody tr")
    assert len(recs) == len(report["recommendations"]) > 0, f"{len(recs)} recommendation rows"
    first = recs[0].text
    assert report["recommendations"][0]["source"] in first, first
    teams = d.find_elements(By.CSS_SELECTOR, "section#leaderboard table:first-of-type tbody tr")
    assert len(teams) == len(report["leaderboard"]["standings"]) > 0, f"{len(teams)} team rows"
    d.save_screenshot(str(shot))
    errs = console_errors(d)
    assert not errs, f"{url}: console errors {errs}"
    print(f"report sections {url[:60]}: {len(recs)} recommendations, {len(teams)} teams, screenshot {shot}")


def totals(d):
    return {e.get_attribute("data-currency"): e.find_element(By.CSS_SELECTOR, ".value").text
            for e in d.find_elements(By.CSS_SELECTOR, "#totals .total")}


def fmt(v: Decimal) -> str:
    s = format(v.normalize(), "f")
    neg = s.startswith("-")
    s = s.lstrip("-")
    i, _, f = s.partition(".")
    f = f.ljust(2, "0")
    i = f"{int(i):,}"
    return ("-" if neg else "") + i + "." + f


def check_dashboard(d, url, data_url_base, shot_before, shot_after):
    d.get(url)
    WebDriverWait(d, 30).until(
        lambda x: x.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes"
        or "error" in (x.find_element(By.ID, "status").get_attribute("class") or ""))
    status = d.find_element(By.ID, "status")
    assert status.get_attribute("class") != "error", status.text
    before = totals(d)
    assert before, "totals shown"
    svgs = d.find_elements(By.CSS_SELECTOR, "#chart-daily svg, #chart-service svg")
    bars = d.execute_script("return document.querySelectorAll('#chart-daily rect.bar').length")
    assert len(svgs) == 2 and bars > 0, (len(svgs), bars)
    d.save_screenshot(str(shot_before))
    # The data the page uses, to know what the filtered total must be.
    data_url = d.find_element(By.CSS_SELECTOR, 'meta[name="costkit-data"]').get_attribute("content")
    data = d.execute_async_script(
        "var cb = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.json()).then(cb);", data_url)
    providers = Select(d.find_element(By.ID, "f-provider"))
    choices = [o.get_attribute("value") for o in providers.options if o.get_attribute("value")]
    assert len(choices) >= 2, f"need two providers to filter: {choices}"
    # The provider with the least spend, so the total must change.
    sums = {}
    for r in data["rows"]:
        sums.setdefault(r[1], {}).setdefault(r[5], Decimal(0))
        sums[r[1]][r[5]] += Decimal(r[6])
    pick = min(choices, key=lambda p: sum(sums.get(p, {}).values()))
    providers.select_by_value(pick)  # a scripted click on the filter: fires `change`
    WebDriverWait(d, 10).until(lambda x: totals(x) != before)
    after = totals(d)
    expected = {c: fmt(v) for c, v in sums[pick].items()}
    assert after == expected, (pick, after, expected)
    d.save_screenshot(str(shot_after))
    errs = console_errors(d)
    assert not errs, f"dashboard: console errors {errs}"
    print(f"dashboard: totals {before} -> provider {pick!r} -> {after} (= exact sum of its rows)")


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    args = sys.argv[2:]
    sep = args.index("--")
    reports, dash = args[:sep], args[sep + 1]
    d = driver()
    try:
        for i, url in enumerate(reports):
            # The file report is mid-month (2024-09-20): it must show the forecast band.
            check_report(d, url, out / f"report-{i}.png", band=url.startswith("file:"))
        check_dashboard(d, dash, None, out / "dashboard.png", out / "dashboard-filtered.png")
        sections = out / "report-sections.html"
        report = json.loads((out / "report-sections.json").read_text())
        check_sections(d, sections.as_uri(), report, out / "report-sections.png")
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
