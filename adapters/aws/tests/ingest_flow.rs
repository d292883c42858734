//! The serverless flow the functions will run, end to end on moto: a raw Cost Explorer payload in
//! S3, a job on SQS, a consumer that claims the job, streams the object to a file, normalizes
//! it (reconciled) and replaces the store's slices. Delivering the same message twice changes
//! nothing; a restated object (new ETag) is a new job and replaces the old numbers.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use costkit_aws::dynamo::Claim;
use costkit_aws::messaging::{self, NormalizeJob, Received};
use costkit_aws::{s3, AwsClients, DynamoStore};
use costkit_core::aggregate::LoadBatch;
use costkit_core::input::Progress;
use costkit_core::normalize::{Dialect, Job};
use costkit_core::store::{CostStore, Filter, LoadMeta};
use rust_decimal::Decimal;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Loaded(i64),
    Skipped(Claim),
}

/// What the normalize function will do with one SQS message.
async fn consume(clients: &AwsClients, store: &DynamoStore, msg: &Received) -> Outcome {
    let job = NormalizeJob::from_json(&msg.body).expect("job");
    let key = job.idempotency_key();
    match store
        .claim(&key, Duration::from_secs(300))
        .await
        .expect("claim")
    {
        Claim::Acquired => {}
        other => return Outcome::Skipped(other),
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (file, _) = s3::download_to_temp(clients.s3(), &job.bucket, &job.key, dir.path())
        .await
        .expect("download");
    let path = file.path().to_path_buf();
    // The normalizer and the store port are synchronous: off the runtime's workers.
    let sync_store = store.clone();
    let files = vec![format!("s3://{}/{}", job.bucket, job.key)];
    let report = tokio::task::spawn_blocking(move || {
        let mut batch = LoadBatch::default();
        let jobs = [Job {
            dialect: Dialect::AwsCostExplorer,
            inputs: vec![path],
            amortized: vec![],
        }];
        costkit_core::pipeline::run(
            &jobs,
            &Progress::default(),
            None,
            Some(&mut batch),
            &mut || {},
        )
        .expect("normalize + reconcile");
        let meta = LoadMeta {
            dialect: "aws-ce".into(),
            files,
            loaded_at: "2026-03-15T06:00:00Z".into(),
        };
        let mut store = sync_store;
        store.replace(&batch, &meta).expect("replace")
    })
    .await
    .expect("blocking task");
    store
        .finish_claim(&key, Duration::from_secs(7 * 86_400))
        .await
        .expect("finish");
    Outcome::Loaded(report.load_id)
}

fn fixture() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aws-ce/service-account-3days-2pages.json");
    std::fs::read_to_string(p).expect("fixture")
}

fn total(store: &DynamoStore) -> Decimal {
    store
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

#[test]
fn a_message_delivered_twice_loads_once_and_a_restatement_replaces() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    let store = DynamoStore::new(&clients, &common::unique("flow"), rt.handle().clone());
    rt.block_on(store.create_table()).expect("table");
    let raw = fixture();
    let (bucket, url) = rt.block_on(async {
        let bucket = common::unique("raw");
        clients
            .s3()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        let url = clients
            .sqs()
            .create_queue()
            .queue_name(common::unique("normalize"))
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        (bucket, url)
    });
    let key = "raw/aws/ce-service-account/2026-03-15/pages.json";

    let enqueue = |body: String| {
        rt.block_on(async {
            s3::put_bytes(
                clients.s3(),
                &bucket,
                key,
                body.into_bytes(),
                "application/json",
            )
            .await
            .expect("put raw");
            let etag = clients
                .s3()
                .head_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .expect("head")
                .e_tag;
            let mut job = NormalizeJob::new("aws", "ce-service-account", &bucket, key);
            job.dialect = Some("aws-ce".into());
            job.etag = etag;
            messaging::send_job(clients.sqs(), &url, &job)
                .await
                .expect("send");
        })
    };
    let deliver = || {
        rt.block_on(async {
            let msgs = messaging::receive(clients.sqs(), &url, 1, 1)
                .await
                .expect("receive");
            assert_eq!(msgs.len(), 1, "one message waiting");
            let outcome = consume(&clients, &store, &msgs[0]).await;
            // Not deleted: make it visible again at once, as if the consumer had timed out.
            clients
                .sqs()
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(&msgs[0].receipt_handle)
                .visibility_timeout(0)
                .send()
                .await
                .expect("visibility");
            (outcome, msgs[0].clone())
        })
    };

    enqueue(raw.clone());
    let (first, m1) = deliver();
    assert!(matches!(first, Outcome::Loaded(_)), "{first:?}");
    let after_first = total(&store);
    let (second, m2) = deliver();
    assert_eq!(
        m1.message_id, m2.message_id,
        "the same message, delivered again"
    );
    assert_eq!(second, Outcome::Skipped(Claim::AlreadyDone));
    assert_eq!(total(&store), after_first, "nothing changed");
    assert_eq!(store.loads().expect("loads").len(), 1);
    rt.block_on(messaging::delete(clients.sqs(), &url, &m2.receipt_handle))
        .expect("delete");

    // A restatement: the same day re-fetched with another amount (same key, new ETag).
    let old = "\"Amount\": \"1.2258064516\"";
    assert!(raw.contains(old));
    let restated = raw.replacen(old, "\"Amount\": \"2.2258064516\"", 2);
    enqueue(restated);
    let (third, _) = deliver();
    assert!(matches!(third, Outcome::Loaded(_)), "{third:?}");
    let diff = total(&store) - after_first;
    assert_eq!(
        diff,
        Decimal::ONE,
        "the restated day replaced the old number (+1.00), not added to it"
    );
    assert_eq!(store.loads().expect("loads").len(), 2);
}
