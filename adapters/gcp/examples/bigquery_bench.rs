//! Hand-run benchmark of the BigQuery billing-export source (numbers go in the report and
//! docs/gcp-deploy.md):
//!
//! 1. conversion only: `rows` detailed-export rows in the REST `f`/`v` form (the fixture rows of
//!    `tests/fixtures/gcp/detailed.ndjson`, repeated) turned into export NDJSON, 10 000 rows a page
//!    (the source's default page size);
//! 2. with `BIGQUERY_EMULATOR_HOST` set: the same rows loaded into bqemulator and fetched through
//!    the source (jobs.query + getQueryResults paging + conversion).
//!
//! ```sh
//! cargo run --release -p costkit-gcp --example bigquery_bench -- 200000
//! scripts/gcp-emulators.sh start && eval "$(scripts/gcp-emulators.sh env)"
//! cargo run --release -p costkit-gcp --example bigquery_bench -- 20000
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use costkit_core::breakdown::DayRange;
use costkit_gcp::bigquery::{
    page_to_ndjson, BigQuery, BillingExportSource, ExportKind, ExportQuery, Field, ResultPage,
    TableRef,
};
use costkit_gcp::{Endpoint, Gcp, RetryPolicy, Service};
use serde_json::value::RawValue;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../tests/fixtures/billing_export_resource_v1_schema.json");
const ROWS: &str = include_str!("../../../tests/fixtures/gcp/detailed.ndjson");

/// A JSON value of the export in the REST `v` form of `field` (what BigQuery sends).
fn to_v(field: &Field, v: Option<&Value>) -> Value {
    let v = match v {
        None | Some(Value::Null) => {
            return if field.mode.as_deref() == Some("REPEATED") {
                json!([])
            } else {
                Value::Null
            }
        }
        Some(v) => v,
    };
    if field.mode.as_deref() == Some("REPEATED") {
        let single = Field {
            mode: None,
            ..field.clone()
        };
        let items = v.as_array().cloned().unwrap_or_default();
        return Value::Array(
            items
                .iter()
                .map(|i| json!({"v": to_v(&single, Some(i))}))
                .collect(),
        );
    }
    match field.kind.as_str() {
        "RECORD" => {
            json!({"f": field.fields.iter().map(|f| json!({"v": to_v(f, v.get(&f.name))})).collect::<Vec<_>>()})
        }
        // Every fixture timestamp is a whole second; BigQuery sends int64 microseconds.
        "TIMESTAMP" => {
            let s = v
                .as_str()
                .unwrap_or_default()
                .replace(" UTC", "Z")
                .replace(' ', "T");
            let t = chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.timestamp_micros().to_string())
                .unwrap_or_default();
            Value::String(t)
        }
        _ => match v {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        },
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let schema: Vec<Field> =
        serde_json::from_value(serde_json::from_str::<Value>(SCHEMA)?["fields"].clone())?;
    let schema = Arc::new(schema);
    let json_rows: Vec<Value> = ROWS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let fv_rows: Vec<Box<RawValue>> = json_rows
        .iter()
        .map(|r| {
            serde_json::value::to_raw_value(
                &json!({"f": schema.iter().map(|f| json!({"v": to_v(f, r.get(&f.name))})).collect::<Vec<_>>()}),
            )
        })
        .collect::<Result<_, _>>()?;

    // 1. Conversion only.
    let pages: Vec<ResultPage> = (0..n)
        .collect::<Vec<_>>()
        .chunks(10_000)
        .map(|c| ResultPage {
            schema: schema.clone(),
            rows: c
                .iter()
                .map(|i| fv_rows[i % fv_rows.len()].clone())
                .collect(),
        })
        .collect();
    let t = Instant::now();
    let mut texts = Vec::with_capacity(pages.len());
    for (i, p) in pages.iter().enumerate() {
        texts.push(page_to_ndjson(p, i, "bench")?);
    }
    let convert = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut gz_bytes = 0usize;
    for text in &texts {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text)?;
        gz_bytes += enc.finish()?.len();
    }
    let compress = t.elapsed().as_secs_f64();
    let bytes: usize = texts.iter().map(Vec::len).sum();
    println!(
        "convert: {n} rows in {convert:.3} s = {:.0} rows/s, {:.1} MB NDJSON ({:.1} MB/s); \
         gzip fast {compress:.3} s -> {:.1} MB ({:.1}x); peak RSS {:.0} MiB",
        n as f64 / convert,
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / convert,
        gz_bytes as f64 / 1e6,
        bytes as f64 / gz_bytes as f64,
        peak_rss_mib()
    );
    drop(texts);
    drop(pages);

    // 2. Through bqemulator.
    let Ok(base) = std::env::var("BIGQUERY_EMULATOR_HOST") else {
        println!("BIGQUERY_EMULATOR_HOST unset: emulator part skipped");
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let project = "billing-proj";
        let api = format!("{base}/bigquery/v2/projects/{project}");
        let http = reqwest::Client::new();
        let dataset = format!("bench_{}", std::process::id());
        let table = "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9";
        http.post(format!("{api}/datasets"))
            .json(&json!({"datasetReference": {"projectId": project, "datasetId": dataset}}))
            .send()
            .await?
            .error_for_status()?;
        http.post(format!("{api}/datasets/{dataset}/tables"))
            .json(&json!({"tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                          "schema": serde_json::from_str::<Value>(SCHEMA)?}))
            .send()
            .await?
            .error_for_status()?;
        let t = Instant::now();
        // All rows on the November invoice, so one query returns them all.
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let rows: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    let mut r = json_rows[i % json_rows.len()].clone();
                    r["invoice"]["month"] = json!("202411");
                    json!({"json": r})
                })
                .collect();
            http.post(format!("{api}/datasets/{dataset}/tables/{table}/insertAll"))
                .json(&json!({"rows": rows}))
                .send()
                .await?
                .error_for_status()?;
        }
        println!("load: {n} rows into bqemulator in {:.1} s", t.elapsed().as_secs_f64());
        let gcp = Gcp::new(project, RetryPolicy::default(), None)?.with_endpoint(
            Service::BigQuery,
            Endpoint::emulator("BIGQUERY_EMULATOR_HOST", &base)?,
        );
        let source = BillingExportSource::new(
            BigQuery::new(gcp),
            ExportQuery {
                table: TableRef::parse(&format!("{project}.{dataset}.{table}"))?,
                kind: ExportKind::Detailed,
                partition_lookback_days: None,
            },
            tokio::runtime::Handle::current(),
        );
        let range = DayRange {
            start: chrono::NaiveDate::from_ymd_opt(2024, 11, 1).ok_or("date")?,
            end: chrono::NaiveDate::from_ymd_opt(2024, 12, 1).ok_or("date")?,
        };
        let t = Instant::now();
        let pages = source.pages(&range).await?;
        let secs = t.elapsed().as_secs_f64();
        let bytes: usize = pages.iter().map(Vec::len).sum();
        println!(
            "fetch: {n} rows in {} gzip pages in {:.2} s = {:.0} rows/s ({:.1} MB compressed), peak RSS {:.0} MiB",
            pages.len(),
            secs,
            n as f64 / secs,
            bytes as f64 / 1e6,
            peak_rss_mib()
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
