//! The ingest function. One trigger type, an EventBridge event, dispatched on `source`:
//!
//! * `aws.scheduler`: the daily schedule (empty `detail`) or a backfill invoked by hand
//!   (`detail: {"start": "2024-08-01", "end": "2024-10-01"}`, `end` **exclusive** like Cost
//!   Explorer's `TimePeriod`). Plans whole months ([`flow::ingest::plan_months`]) and pulls them
//!   from Cost Explorer ([`flow::ingest::ingest`]). The event's `time` is the run's clock and its
//!   run id (one per hour): a retried invocation of the same event queues the same job ids.
//! * `aws.s3` `Object Created` under the export prefix: AWS Data Exports (CUR 2.0, FOCUS) write
//!   the data files first and `…-Manifest.json` last, so only the manifest starts work: one
//!   normalize job with one part per data file listed in its `dataFiles`. Events for data files
//!   alone are ignored. The job id is stable per manifest key and its `executionId`
//!   (`assemblyId` in older manifests; else the object's ETag), so a redelivered event queues
//!   the same job and a restated export (a new execution) a new one.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use costkit_aws::cost_explorer::CostExplorer;
use costkit_aws::ports::CeSource;
use costkit_core::flow::messages::{Message, NormalizeJob};
use costkit_core::flow::FlowError;
use costkit_core::ports::{BlobStore, Queue};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{config, App};

/// Suffix of a Data Exports manifest object.
pub const MANIFEST_SUFFIX: &str = "-Manifest.json";

/// Handles one event; returns a summary of what was queued.
pub async fn handle(app: &App, event: EventBridgeEvent<Value>) -> Result<Value, FlowError> {
    let now = event.time.unwrap_or_else(Utc::now);
    match event.source.as_str() {
        "aws.scheduler" => scheduled(app, &event.detail, now).await,
        "aws.s3" => export_delivered(app, &event, now).await,
        other => Err(FlowError::Invalid(format!(
            "event source `{other}` is not handled (aws.scheduler, aws.s3)"
        ))),
    }
}

/// The core's request (`end` inclusive) for an event `detail` (`end` exclusive), shared by every
/// shell.
pub use costkit_shell::backfill_request as request;

async fn scheduled(app: &App, detail: &Value, now: DateTime<Utc>) -> Result<Value, FlowError> {
    let req = request(detail)?;
    let months = app.config.ce_history_months;
    let source = CeSource::new(
        CostExplorer::new(&app.clients).with_history_months(months),
        now.date_naive(),
        app.handle.clone(),
    );
    let blobs = app.blobs()?;
    let queue = app.queue(&app.config.normalize_queue_url, config::NORMALIZE_QUEUE_URL)?;
    app.blocking(move || {
        costkit_shell::scheduled_ingest(&source, &blobs, &queue, &req, months, now)
    })
    .await
}

/// The parts of a Data Exports manifest costkit reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    execution_id: Option<String>,
    #[serde(default)]
    assembly_id: Option<String>,
    data_files: Vec<String>,
}

async fn export_delivered(
    app: &App,
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let field = |p: &str| event.detail.pointer(p).and_then(Value::as_str);
    let key = field("/object/key")
        .ok_or_else(|| FlowError::Invalid("S3 event without detail.object.key".into()))?
        .to_string();
    let bucket = field("/bucket/name").unwrap_or_default().to_string();
    let etag = field("/object/etag").unwrap_or_default().to_string();
    if !key.ends_with(MANIFEST_SUFFIX) {
        tracing::info!(%key, "export data file: waiting for the manifest");
        return Ok(json!({"ignored": key}));
    }
    if !key.starts_with(&app.config.export_prefix) {
        tracing::warn!(%key, prefix = %app.config.export_prefix, "manifest outside the export prefix: ignored");
        return Ok(json!({"ignored": key}));
    }
    let blobs = app.blobs()?;
    let own = app
        .config
        .require(&app.config.bucket, config::BUCKET)?
        .to_string();
    if !bucket.is_empty() && bucket != own {
        return Err(FlowError::Invalid(format!(
            "s3://{bucket}/{key}: exports must be delivered to the data bucket {own}"
        )));
    }
    let queue = app.queue(&app.config.normalize_queue_url, config::NORMALIZE_QUEUE_URL)?;
    let job = app
        .blocking(move || {
            let body = blobs.get_bytes(&key)?;
            let job = manifest_job(&own, &key, &etag, &body, now)?;
            for part in 0..job.parts.len() {
                let msg = Message::Normalize(NormalizeJob {
                    part,
                    ..job.clone()
                });
                queue.send(&msg.to_json(), &msg.dedup_id())?;
            }
            Ok(job)
        })
        .await?;
    tracing::info!(job_id = %job.job_id, parts = job.parts.len(), "export delivery queued");
    Ok(json!({"job_id": job.job_id, "parts": job.parts.len()}))
}

/// The normalize job of a manifest (`part` 0; the caller sends one message per part).
pub fn manifest_job(
    bucket: &str,
    key: &str,
    etag: &str,
    body: &[u8],
    produced_at: DateTime<Utc>,
) -> Result<NormalizeJob, FlowError> {
    let m: Manifest = serde_json::from_slice(body).map_err(|e| {
        FlowError::Invalid(format!(
            "s3://{bucket}/{key}: not a Data Exports manifest: line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if m.data_files.is_empty() {
        return Err(FlowError::Invalid(format!(
            "s3://{bucket}/{key}: field `dataFiles` is empty"
        )));
    }
    let prefix = format!("s3://{bucket}/");
    let mut parts = Vec::with_capacity(m.data_files.len());
    for (i, f) in m.data_files.iter().enumerate() {
        let k = f.strip_prefix(&prefix).ok_or_else(|| {
            FlowError::Invalid(format!(
                "s3://{bucket}/{key}: field `dataFiles[{i}]`: `{f}` is not in s3://{bucket}/"
            ))
        })?;
        parts.push(vec![k.to_string()]);
    }
    let run = m
        .execution_id
        .or(m.assembly_id)
        .unwrap_or_else(|| etag.to_string());
    // Readable and bounded: the export's folder name, then a digest of key + run.
    let name = key
        .rsplit('/')
        .next()
        .unwrap_or(key)
        .trim_end_matches(MANIFEST_SUFFIX);
    let digest = hex::encode(&Sha256::digest(format!("{key}#{run}").as_bytes())[..8]);
    Ok(NormalizeJob {
        job_id: format!("aws-export-{name}-{digest}"),
        source: "aws-export".into(),
        dialect: None,
        parts,
        part: 0,
        produced_at,
    })
}
