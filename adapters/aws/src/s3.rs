//! S3: raw payloads in, FOCUS Parquet out.
//!
//! Key layout (`docs/aws-dynamodb.md`, "S3 layout"):
//!
//! * `raw/<provider>/<source>/<yyyy-mm-dd>/<name>`: what a provider sent, unchanged (the
//!   Cost Explorer pages of one query as a JSON array, a CUR file, ...). The date is the day the
//!   data was fetched or delivered.
//! * `focus/billing_period=YYYY-MM/<name>.parquet`: FOCUS 1.2 records, one object per billing
//!   period and source. The name is deterministic per source (provider, source, account), so a
//!   re-ingested period **overwrites** its object: readers that scan the prefix (Athena, DuckDB)
//!   never see the old and new numbers side by side.
//!
//! Large objects are streamed to a temporary file (the normalizers read files) and large outputs
//! are sent with multipart upload, so memory stays at one part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use chrono::NaiveDate;
use costkit_core::focus::FocusRecord;
use costkit_core::output::{FocusSink, OutputColumns, OutputError, ParquetSink};
use costkit_core::time::period_key;
use tempfile::NamedTempFile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::AwsError;

const SVC: &str = "S3";

/// Default multipart part size: 8 MiB (S3's minimum is 5 MiB for every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// `raw/<provider>/<source>/<yyyy-mm-dd>/<name>`.
pub fn raw_key(provider: &str, source: &str, day: NaiveDate, name: &str) -> String {
    format!(
        "raw/{}/{}/{}/{}",
        key_part(provider),
        key_part(source),
        day.format("%Y-%m-%d"),
        key_part(name)
    )
}

/// `focus/billing_period=YYYY-MM/<name>.parquet`.
pub fn focus_key(billing_period: &str, name: &str) -> String {
    format!(
        "focus/billing_period={}/{}.parquet",
        key_part(billing_period),
        key_part(name)
    )
}

/// Keeps a key component to characters safe in S3 keys and Hive partition paths.
fn key_part(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "_".into()
    } else {
        cleaned
    }
}

/// Puts a small object from memory.
pub async fn put_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), AwsError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| AwsError::api(SVC, "PutObject", e))?;
    Ok(())
}

/// Gets a small object into memory.
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::api(SVC, "GetObject", e))?;
    let data = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::io(format!("s3://{bucket}/{key}"), e))?;
    Ok(data.into_bytes().to_vec())
}

/// Streams an object into a new temporary file in `dir` (deleted when the returned handle is
/// dropped), chunk by chunk: memory does not grow with the object. The file name ends with the
/// key's last component, so messages about the file name the object. Returns the file and its size.
pub async fn download_to_temp(
    client: &Client,
    bucket: &str,
    key: &str,
    dir: &Path,
) -> Result<(NamedTempFile, u64), AwsError> {
    let url = format!("s3://{bucket}/{key}");
    let base = key.rsplit('/').next().unwrap_or(key);
    let tmp = tempfile::Builder::new()
        .prefix("costkit-")
        .suffix(&format!("-{}", key_part(base)))
        .tempfile_in(dir)
        .map_err(|e| AwsError::io(dir.display(), e))?;
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::api(SVC, "GetObject", e))?;
    let expected = out.content_length.and_then(|l| u64::try_from(l).ok());
    let mut body = out.body;
    let std_file = tmp
        .reopen()
        .map_err(|e| AwsError::io(tmp.path().display(), e))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut written = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| AwsError::io(&url, format!("download interrupted: {e}")))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|e| AwsError::io(tmp.path().display(), e))?;
        written += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| AwsError::io(tmp.path().display(), e))?;
    if let Some(n) = expected.filter(|n| *n != written) {
        return Err(AwsError::io(
            &url,
            format!("download truncated: {written} of {n} bytes"),
        ));
    }
    Ok((tmp, written))
}

/// Uploads a file: one `PutObject` up to `part_size`, multipart above (parts of `part_size`,
/// sent one at a time so memory stays at one part). A failed multipart upload is aborted, so no
/// parts are left behind to be billed.
pub async fn upload_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
    part_size: usize,
) -> Result<(), AwsError> {
    let part_size = part_size.max(5 * 1024 * 1024);
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| AwsError::io(path.display(), e))?
        .len();
    if size <= part_size as u64 {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| AwsError::io(path.display(), e))?;
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "PutObject", e))?;
        return Ok(());
    }
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .send()
        .await
        .map_err(|e| AwsError::api(SVC, "CreateMultipartUpload", e))?;
    let upload_id = created.upload_id.ok_or_else(|| AwsError::Invalid {
        what: format!("S3 CreateMultipartUpload s3://{bucket}/{key}"),
        message: "no UploadId in the response".into(),
    })?;
    let result = upload_parts(client, bucket, key, &upload_id, path, part_size).await;
    match result {
        Ok(parts) => {
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| AwsError::api(SVC, "CompleteMultipartUpload", e))?;
            Ok(())
        }
        Err(e) => {
            if let Err(abort) = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(error = %AwsError::api(SVC, "AbortMultipartUpload", abort), "could not abort the failed upload");
            }
            Err(e)
        }
    }
}

async fn upload_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    path: &Path,
    part_size: usize,
) -> Result<Vec<CompletedPart>, AwsError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| AwsError::io(path.display(), e))?;
    let mut parts = Vec::new();
    let mut number = 1;
    loop {
        let mut buf = Vec::with_capacity(part_size);
        let mut reader = (&mut file).take(part_size as u64);
        reader
            .read_to_end(&mut buf)
            .await
            .map_err(|e| AwsError::io(path.display(), e))?;
        if buf.is_empty() {
            break;
        }
        let out = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(buf))
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "UploadPart", e))?;
        // The SDK adds a checksum to every part; completing the upload must repeat it.
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .set_checksum_crc32(out.checksum_crc32)
                .set_checksum_crc32_c(out.checksum_crc32_c)
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme)
                .set_checksum_sha1(out.checksum_sha1)
                .set_checksum_sha256(out.checksum_sha256)
                .build(),
        );
        number += 1;
    }
    Ok(parts)
}

/// One finished partition of [`PeriodPartitionedParquet`].
#[derive(Debug)]
pub struct Partition {
    /// Billing period `YYYY-MM`.
    pub billing_period: String,
    /// The local Parquet file.
    pub path: PathBuf,
    /// Records in it.
    pub rows: u64,
}

/// A [`FocusSink`] writing one FOCUS Parquet file per billing period (of `BillingPeriodStart`)
/// into a local directory, ready for [`upload_partitions`]. Pass it to
/// `costkit_core::pipeline::run` as the sink, then call [`PeriodPartitionedParquet::finish_partitions`].
pub struct PeriodPartitionedParquet {
    dir: PathBuf,
    columns: OutputColumns,
    sinks: BTreeMap<String, (PathBuf, ParquetSink)>,
}

impl PeriodPartitionedParquet {
    /// Writes into `dir` (which must exist), with these output columns.
    pub fn new(dir: &Path, columns: OutputColumns) -> PeriodPartitionedParquet {
        PeriodPartitionedParquet {
            dir: dir.to_path_buf(),
            columns,
            sinks: BTreeMap::new(),
        }
    }

    /// Closes every file; partitions in period order.
    pub fn finish_partitions(self) -> Result<Vec<Partition>, OutputError> {
        let mut out = Vec::with_capacity(self.sinks.len());
        for (period, (path, sink)) in self.sinks {
            let rows = Box::new(sink).finish()?;
            out.push(Partition {
                billing_period: period,
                path,
                rows,
            });
        }
        Ok(out)
    }
}

impl FocusSink for PeriodPartitionedParquet {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        let period = period_key(&record.billing_period_start);
        if !self.sinks.contains_key(&period) {
            let path = self
                .dir
                .join(format!("billing_period={}.parquet", key_part(&period)));
            let file = std::fs::File::create(&path).map_err(|e| OutputError::Write {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let sink = ParquetSink::new(file, &path, self.columns.clone())?;
            self.sinks.insert(period.clone(), (path, sink));
        }
        match self.sinks.get_mut(&period) {
            Some((_, sink)) => sink.write(record),
            None => Ok(()),
        }
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.finish_partitions()?.iter().map(|p| p.rows).sum())
    }
}

/// Uploads partitions to `focus/billing_period=YYYY-MM/<name>.parquet` (multipart when large);
/// returns the keys written.
pub async fn upload_partitions(
    client: &Client,
    bucket: &str,
    partitions: &[Partition],
    name: &str,
) -> Result<Vec<String>, AwsError> {
    let mut keys = Vec::with_capacity(partitions.len());
    for p in partitions {
        let key = focus_key(&p.billing_period, name);
        upload_file(
            client,
            bucket,
            &key,
            &p.path,
            "application/vnd.apache.parquet",
            PART_SIZE,
        )
        .await?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_layout() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).expect("date");
        assert_eq!(
            raw_key("aws", "ce-service-account", day, "pages.json"),
            "raw/aws/ce-service-account/2026-03-09/pages.json"
        );
        assert_eq!(
            focus_key("2026-03", "aws-ce-111122223333"),
            "focus/billing_period=2026-03/aws-ce-111122223333.parquet"
        );
        assert_eq!(
            raw_key("aws", "../x y", day, ".."),
            "raw/aws/.._x_y/2026-03-09/_"
        );
    }
}
