//! S3 against moto: small round trip, multipart upload + streaming download of a large object,
//! and FOCUS Parquet partitioned by billing period (a re-run overwrites, never adds).

mod common;

use std::path::PathBuf;

use aws_sdk_s3::Client;
use costkit_aws::s3::{self, PeriodPartitionedParquet};
use costkit_core::input::Progress;
use costkit_core::normalize::{Dialect, Job};
use costkit_core::output::OutputColumns;
use rust_decimal::Decimal;

async fn bucket(client: &Client) -> String {
    let name = common::unique("costkit");
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    name
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aws-ce")
        .join(name)
}

#[test]
fn small_objects_round_trip() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    rt.block_on(async {
        let b = bucket(clients.s3()).await;
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 15).expect("day");
        let key = s3::raw_key("aws", "ce-service-account", day, "pages.json");
        s3::put_bytes(
            clients.s3(),
            &b,
            &key,
            b"[{\"ResultsByTime\":[]}]".to_vec(),
            "application/json",
        )
        .await
        .expect("put");
        let got = s3::get_bytes(clients.s3(), &b, &key).await.expect("get");
        assert_eq!(got, b"[{\"ResultsByTime\":[]}]");
        let err = s3::get_bytes(clients.s3(), &b, "raw/none")
            .await
            .expect_err("missing");
        assert_eq!(err.code(), Some("NoSuchKey"), "{err}");
    });
}

#[test]
fn large_files_go_up_in_parts_and_come_down_streamed() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("big.csv");
    // 12 MiB of varied bytes: three parts of 5 MiB, 5 MiB and 2 MiB.
    let data: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&src, &data).expect("write");
    rt.block_on(async {
        let b = bucket(clients.s3()).await;
        s3::upload_file(
            clients.s3(),
            &b,
            "raw/aws/cur2/big.csv",
            &src,
            "text/csv",
            5 * 1024 * 1024,
        )
        .await
        .expect("multipart upload");
        let head = clients
            .s3()
            .head_object()
            .bucket(&b)
            .key("raw/aws/cur2/big.csv")
            .send()
            .await
            .expect("head");
        assert!(
            head.e_tag()
                .is_some_and(|t| t.trim_matches('"').ends_with("-3")),
            "a three-part upload: {:?}",
            head.e_tag()
        );
        let (tmp, size) =
            s3::download_to_temp(clients.s3(), &b, "raw/aws/cur2/big.csv", dir.path())
                .await
                .expect("download");
        assert_eq!(size, data.len() as u64);
        assert!(tmp.path().to_string_lossy().ends_with("-big.csv"));
        assert!(
            std::fs::read(tmp.path()).expect("read") == data,
            "byte for byte"
        );
        let uploads = clients
            .s3()
            .list_multipart_uploads()
            .bucket(&b)
            .send()
            .await
            .expect("list uploads");
        assert!(uploads.uploads().is_empty(), "no unfinished uploads left");
    });
}

#[test]
fn focus_parquet_is_partitioned_by_billing_period_and_replaced_on_rerun() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    let jobs = vec![
        Job {
            dialect: Dialect::AwsCostExplorer,
            inputs: vec![fixture("record-type-monthly.json")],
            amortized: vec![],
        },
        Job {
            dialect: Dialect::AwsCostExplorer,
            inputs: vec![fixture("service-account-3days-2pages.json")],
            amortized: vec![],
        },
    ];
    let b = rt.block_on(bucket(clients.s3()));
    let mut keys_per_run = Vec::new();
    let mut billed = Decimal::ZERO;
    for _ in 0..2 {
        let dir = tempfile::tempdir().expect("tmp");
        let cols =
            OutputColumns::new(costkit_core::pipeline::extension_columns(&jobs).expect("cols"));
        let mut sink = PeriodPartitionedParquet::new(dir.path(), cols);
        let outcomes = costkit_core::pipeline::run(
            &jobs,
            &Progress::default(),
            Some(&mut sink),
            None,
            &mut || {},
        )
        .expect("normalize");
        billed = outcomes.iter().map(|o| o.billed.get("USD")).sum();
        let parts = sink.finish_partitions().expect("finish");
        let periods: Vec<&str> = parts.iter().map(|p| p.billing_period.as_str()).collect();
        assert_eq!(periods, ["2024-02", "2024-03"]);
        let keys = rt
            .block_on(s3::upload_partitions(
                clients.s3(),
                &b,
                &parts,
                "aws-ce-111122223333",
            ))
            .expect("upload");
        keys_per_run.push(keys);
    }
    assert_eq!(
        keys_per_run[0],
        [
            "focus/billing_period=2024-02/aws-ce-111122223333.parquet",
            "focus/billing_period=2024-03/aws-ce-111122223333.parquet"
        ]
    );
    assert_eq!(keys_per_run[0], keys_per_run[1]);
    let listed = rt
        .block_on(
            clients
                .s3()
                .list_objects_v2()
                .bucket(&b)
                .prefix("focus/")
                .send(),
        )
        .expect("list");
    assert_eq!(
        listed.contents().len(),
        2,
        "the re-run overwrote, it did not add"
    );

    // What a reader of the prefix gets back adds up to the source, to the cent.
    let dir = tempfile::tempdir().expect("tmp");
    let mut total = Decimal::ZERO;
    for key in &keys_per_run[1] {
        let (tmp, _) = rt
            .block_on(s3::download_to_temp(clients.s3(), &b, key, dir.path()))
            .expect("download");
        let job = Job {
            dialect: Dialect::Focus,
            inputs: vec![tmp.path().to_path_buf()],
            amortized: vec![],
        };
        let out = costkit_core::pipeline::run(&[job], &Progress::default(), None, None, &mut || {})
            .expect("read back");
        total += out[0].billed.get("USD");
    }
    assert_ne!(billed, Decimal::ZERO);
    assert_eq!(total, billed);
}
