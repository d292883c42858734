//! Cloud Storage on cloudbox (the GCS JSON API emulator): the `BlobStore` port, a file streamed
//! up and down, listings across pages, missing objects.

mod common;

use std::io::Write as _;

use costkit_core::ports::{BlobStore, PortError};
use costkit_gcp::gcs::GcsBlobs;
use costkit_gcp::Service;

fn blobs(rt: &tokio::runtime::Runtime) -> GcsBlobs {
    let gcp = common::gcp(&[Service::Storage]);
    let b = GcsBlobs::new(&gcp, &common::unique("costkit-"), rt.handle().clone());
    rt.block_on(b.bucket().create()).expect("bucket");
    b
}

#[test]
fn objects_round_trip_and_list_by_prefix_across_pages() {
    let rt = common::runtime();
    let b = blobs(&rt);
    let keys = [
        "raw/gcp/bigquery/2024-09-01/part 1.json",
        "raw/gcp/bigquery/2024-09-01/part+2 ü.json",
        "raw/gcp/bigquery/2024-09-02/a.json",
        "focus/billing_period=2024-09/gcp.parquet",
        "raw/gcp/budget/x.json",
    ];
    for (i, k) in keys.iter().enumerate() {
        b.put_bytes(k, format!("body {i}").as_bytes(), "application/json")
            .expect("put");
    }
    assert_eq!(b.get_bytes(keys[1]).expect("get"), b"body 1");
    let listed = rt
        .block_on(b.bucket().list_paged("raw/gcp/bigquery/", 2))
        .expect("list");
    assert_eq!(
        listed,
        vec![
            "raw/gcp/bigquery/2024-09-01/part 1.json".to_string(),
            "raw/gcp/bigquery/2024-09-01/part+2 ü.json".to_string(),
            "raw/gcp/bigquery/2024-09-02/a.json".to_string(),
        ]
    );
    assert_eq!(b.list("raw/").expect("list").len(), 4);
    assert!(b.list("nothing/").expect("list").is_empty());
    // Overwrite keeps one object with the new body.
    b.put_bytes(keys[0], b"new", "application/json")
        .expect("put");
    assert_eq!(b.get_bytes(keys[0]).expect("get"), b"new");
}

#[test]
fn a_file_is_streamed_up_and_down_intact() {
    let rt = common::runtime();
    let b = blobs(&rt);
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("export.csv");
    let mut f = std::fs::File::create(&src).expect("create");
    // 12 MiB of varied bytes: more than one read buffer, not compressible to nothing.
    let mut n = 0u64;
    for i in 0..(12u32 << 10) {
        let line: Vec<u8> = (0..1024u32)
            .map(|j| ((i * 31 + j * 7) % 251) as u8)
            .collect();
        f.write_all(&line).expect("write");
        n += 1024;
    }
    drop(f);
    b.put_file("exports/2024-09/export.csv", &src, "text/csv")
        .expect("upload");
    let dest = dir.path().join("back.csv");
    let got = b
        .download("exports/2024-09/export.csv", &dest)
        .expect("download");
    assert_eq!(got, n);
    assert_eq!(
        std::fs::read(&src).expect("src"),
        std::fs::read(&dest).expect("dest"),
        "the bytes came back unchanged"
    );
}

#[test]
fn a_missing_object_is_not_found_by_name() {
    let rt = common::runtime();
    let b = blobs(&rt);
    match b.get_bytes("nope/missing.json") {
        Err(PortError::NotFound(what)) => {
            assert!(
                what.ends_with("/nope/missing.json") && what.starts_with("gs://"),
                "{what}"
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let dir = tempfile::tempdir().expect("dir");
    assert!(matches!(
        b.download("nope/missing.json", &dir.path().join("x")),
        Err(PortError::NotFound(_))
    ));
    let missing_file = b.put_file("k", &dir.path().join("not-there"), "text/plain");
    match missing_file {
        Err(PortError::Backend { message, .. }) => {
            assert!(message.contains("not-there"), "{message}")
        }
        other => panic!("expected a backend error naming the file, got {other:?}"),
    }
}
