//! Cost Management exports delivered to Blob storage: the run's `manifest.json` lists the data
//! files of one export run; it is written last, so it (not the data files) starts the work. One
//! manifest becomes one normalize job with one part per data file.
//!
//! Manifest fields read (exports "manifestVersion" 2024-04-01): `exportConfig.exportName`,
//! `exportConfig.type` (`ActualCost`, `AmortizedCost`, `FocusCost`), `runInfo.runId`,
//! `runInfo.submittedTime`, `blobCount`, `blobs[].blobName` (CSV or Parquet, gzip or not: the
//! normalizer detects the format from the file).

use chrono::{DateTime, NaiveDateTime, Utc};
use costkit_core::flow::messages::NormalizeJob;
use serde::Deserialize;

use crate::error::AzureError;

/// The name an export run's manifest has.
pub const MANIFEST_NAME: &str = "manifest.json";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    blob_count: Option<usize>,
    export_config: ExportConfig,
    run_info: RunInfo,
    blobs: Vec<BlobEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportConfig {
    export_name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunInfo {
    run_id: String,
    #[serde(default)]
    submitted_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobEntry {
    blob_name: String,
}

fn submitted(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The normalize job of the export run whose manifest is `manifest_key` (its text `bytes`).
///
/// The job id is stable per export and run (`azure-export-<export name>-<run id>`), so a
/// redelivered event queues the same job and a re-run (restated data) a new one. The dialect is
/// `focus` for FocusCost and `azure-actual` / `azure-amortized` for the cost details types.
/// `now` stands in for a missing `submittedTime`.
pub fn manifest_job(
    manifest_key: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<NormalizeJob, AzureError> {
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| AzureError::invalid(manifest_key, format!("not an export manifest: {e}")))?;
    let dialect = match m.export_config.kind.to_ascii_lowercase().as_str() {
        "focuscost" => "focus",
        "actualcost" | "usage" => "azure-actual",
        "amortizedcost" => "azure-amortized",
        other => {
            return Err(AzureError::invalid(
                manifest_key,
                format!("field `exportConfig.type`: `{other}` is not ActualCost, AmortizedCost or FocusCost"),
            ))
        }
    };
    if m.blobs.is_empty() {
        return Err(AzureError::invalid(
            manifest_key,
            "field `blobs`: the run lists no data file",
        ));
    }
    if let Some(n) = m.blob_count.filter(|n| *n != m.blobs.len()) {
        return Err(AzureError::invalid(
            manifest_key,
            format!("field `blobCount` says {n} files but `blobs` lists {}: an incomplete manifest is not loaded", m.blobs.len()),
        ));
    }
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    Ok(NormalizeJob {
        job_id: format!(
            "azure-export-{}-{}",
            safe(&m.export_config.export_name),
            safe(&m.run_info.run_id)
        ),
        source: format!("azure-export-{}", m.export_config.kind.to_ascii_lowercase()),
        dialect: Some(dialect.to_string()),
        parts: m.blobs.into_iter().map(|b| vec![b.blob_name]).collect(),
        part: 0,
        produced_at: m
            .run_info
            .submitted_time
            .as_deref()
            .and_then(submitted)
            .unwrap_or(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "manifestVersion": "2024-04-01",
      "byteCount": 321538,
      "blobCount": 2,
      "dataRowCount": 272,
      "exportConfig": {
        "exportName": "costkit-focus",
        "resourceId": "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.CostManagement/exports/costkit-focus",
        "dataVersion": "1.0r2",
        "apiVersion": "2023-07-01-preview",
        "type": "FocusCost",
        "timeFrame": "MonthToDate",
        "granularity": "Daily"
      },
      "deliveryConfig": {
        "partitionData": true,
        "dataOverwriteBehavior": "OverwritePreviousReport",
        "fileFormat": "Parquet",
        "compressionMode": "snappy",
        "containerUri": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acmecostkit",
        "rootFolderPath": "exports"
      },
      "runInfo": {
        "executionType": "Scheduled",
        "submittedTime": "2024-09-02T05:05:47.8757738Z",
        "runId": "a5a9b2d4-3e1f-4c7a-9d0b-1f2e3d4c5b6a",
        "startDate": "2024-09-01T00:00:00",
        "endDate": "2024-09-01T00:00:00"
      },
      "blobs": [
        {"blobName": "exports/costkit-focus/20240901-20240930/a5a9b2d4/part_0_0001.snappy.parquet", "byteCount": 160769, "dataRowCount": 136},
        {"blobName": "exports/costkit-focus/20240901-20240930/a5a9b2d4/part_1_0001.snappy.parquet", "byteCount": 160769, "dataRowCount": 136}
      ]
    }"#;

    #[test]
    fn a_manifest_becomes_one_job_with_a_part_per_file() {
        let now = Utc::now();
        let job = manifest_job(
            "exports/costkit-focus/x/manifest.json",
            MANIFEST.as_bytes(),
            now,
        )
        .expect("job");
        assert_eq!(
            job.job_id,
            "azure-export-costkit-focus-a5a9b2d4-3e1f-4c7a-9d0b-1f2e3d4c5b6a"
        );
        assert_eq!(job.dialect.as_deref(), Some("focus"));
        assert_eq!(job.parts.len(), 2);
        assert!(job.parts[1][0].ends_with("part_1_0001.snappy.parquet"));
        assert_eq!(
            job.produced_at.to_rfc3339(),
            "2024-09-02T05:05:47.875773800+00:00"
        );
    }

    #[test]
    fn incomplete_or_unknown_manifests_are_refused() {
        let now = Utc::now();
        let short = MANIFEST.replace("\"blobCount\": 2", "\"blobCount\": 3");
        let e = manifest_job("m.json", short.as_bytes(), now).expect_err("incomplete");
        assert!(e.to_string().contains("blobCount"), "{e}");
        let other = MANIFEST.replace("\"FocusCost\"", "\"ReservationRecommendations\"");
        let e = manifest_job("m.json", other.as_bytes(), now).expect_err("type");
        assert!(e.to_string().contains("exportConfig.type"), "{e}");
        let e = manifest_job("m.json", b"{}", now).expect_err("not a manifest");
        assert!(e.to_string().contains("m.json"), "{e}");
    }
}
