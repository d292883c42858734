//! The core's ports on Azurite: Blob (small and block uploads, streamed download, listing with
//! continuation, 404), Storage queues (base64 text, visibility, dequeue count), Table state
//! (conditional writes under concurrency).

mod common;

use costkit_azure::blob::Container;
use costkit_azure::ports::{AzBlobs, AzQueue, FanOut, QueuePublisher, TableState};
use costkit_azure::queue::StorageQueue;
use costkit_azure::table::Table;
use costkit_core::ports::{
    put_once, update_json, BlobStore, PortError, Publication, Publisher, Queue, StateStore,
};

#[test]
fn blobs_round_trip_and_list_in_pages() {
    let rt = common::runtime();
    let storage = common::storage();
    let name = common::unique("c");
    let blobs = AzBlobs::new(&storage, &name, rt.handle().clone());
    rt.block_on(blobs.container().create()).expect("container");

    blobs
        .put_bytes(
            "raw/azure/2024-09/page 1.json",
            b"{\"a\":1}",
            "application/json",
        )
        .expect("put");
    assert_eq!(
        blobs
            .get_bytes("raw/azure/2024-09/page 1.json")
            .expect("get"),
        b"{\"a\":1}"
    );
    match blobs.get_bytes("raw/missing.json") {
        Err(PortError::NotFound(what)) => assert!(what.contains("raw/missing.json"), "{what}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    for i in 0..5 {
        blobs
            .put_bytes(
                &format!("staging/job/part-{i:05}.json"),
                b"[]",
                "application/json",
            )
            .expect("put");
    }
    let c = Container::new(&storage, &name);
    let paged = rt
        .block_on(c.list_pages("staging/", Some(2)))
        .expect("list");
    assert_eq!(
        paged.len(),
        5,
        "three pages of at most 2 followed to the end"
    );
    assert_eq!(paged, blobs.list("staging/").expect("list"));
    assert_eq!(paged[0], "staging/job/part-00000.json");
    assert!(blobs.list("nothing/").expect("list").is_empty());
}

#[test]
fn a_large_file_goes_up_in_blocks_and_comes_back_whole() {
    let rt = common::runtime();
    let storage = common::storage();
    let c = Container::new(&storage, &common::unique("c"));
    rt.block_on(c.create()).expect("container");
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("big.parquet");
    // 2.5 blocks of 1 MiB, with a pattern that shows misplaced blocks.
    let data: Vec<u8> = (0..(5 * 512 * 1024u32)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).expect("write");
    let sent = rt
        .block_on(c.put_file(
            "focus/billing_period=2024-09/x.parquet",
            &src,
            "application/vnd.apache.parquet",
            1024 * 1024,
        ))
        .expect("upload");
    assert_eq!(sent, data.len() as u64);
    let dest = dir.path().join("back.parquet");
    let blobs = AzBlobs::new(&storage, c.name(), rt.handle().clone());
    let n = blobs
        .download("focus/billing_period=2024-09/x.parquet", &dest)
        .expect("download");
    assert_eq!(n, data.len() as u64);
    assert_eq!(std::fs::read(&dest).expect("read"), data);
}

#[test]
fn queue_messages_are_base64_and_come_back_with_counts() {
    let rt = common::runtime();
    let storage = common::storage();
    let name = common::unique("q");
    let q = AzQueue::new(&storage, &name, rt.handle().clone());
    rt.block_on(q.queue().create()).expect("queue");
    let body =
        r#"{"type":"data_updated","job_id":"a<&>b","slices":[],"first_day":null,"last_day":null}"#;
    q.send(body, "updated:a").expect("send");
    let sq = StorageQueue::new(&storage, &name);
    let got = rt.block_on(sq.receive(32, 1)).expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, body);
    assert_eq!(got[0].dequeue_count, 1);
    // Not deleted: it comes back after the visibility timeout, counted twice.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let again = rt.block_on(sq.receive(32, 30)).expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].dequeue_count, 2);
    rt.block_on(sq.delete(&again[0])).expect("delete");
    assert!(rt.block_on(sq.receive(32, 1)).expect("receive").is_empty());

    let huge = "x".repeat(60 * 1024);
    let e = q.send(&huge, "x").expect_err("too large");
    assert!(
        e.to_string().contains("larger than a queue message holds"),
        "{e}"
    );
}

#[test]
fn fan_out_and_publisher_reach_every_queue() {
    let rt = common::runtime();
    let storage = common::storage();
    let names = [
        common::unique("q"),
        common::unique("q"),
        common::unique("q"),
    ];
    for n in &names {
        rt.block_on(StorageQueue::new(&storage, n).create())
            .expect("queue");
    }
    let fan = FanOut::new(vec![
        AzQueue::new(&storage, &names[0], rt.handle().clone()),
        AzQueue::new(&storage, &names[1], rt.handle().clone()),
    ]);
    fan.send("{\"hello\":1}", "d").expect("fan out");
    for n in &names[..2] {
        let got = rt
            .block_on(StorageQueue::new(&storage, n).receive(32, 5))
            .expect("receive");
        assert_eq!(got.len(), 1, "{n}");
        assert_eq!(got[0].body, "{\"hello\":1}");
    }
    let p = QueuePublisher::new(&storage, &names[2], rt.handle().clone());
    p.publish(&Publication {
        subject: "[costkit] Budget".into(),
        body: "80% of 1000.00 USD".into(),
        attributes: vec![("severity".into(), "warning".into())],
        dedup_id: "f-1".into(),
    })
    .expect("publish");
    let got = rt
        .block_on(StorageQueue::new(&storage, &names[2]).receive(32, 5))
        .expect("receive");
    let v: serde_json::Value = serde_json::from_str(&got[0].body).expect("json");
    assert_eq!(v["subject"], "[costkit] Budget");
    assert_eq!(v["attributes"]["severity"], "warning");
    assert_eq!(v["dedup_id"], "f-1");
}

#[test]
fn state_items_are_written_only_at_the_version_read() {
    let rt = common::runtime();
    let storage = common::storage();
    let name = common::unique("state");
    rt.block_on(Table::new(&storage, &name).create())
        .expect("table");
    let s = TableState::new(&storage, &name, rt.handle().clone());

    assert_eq!(s.get("job/a/b#c?").expect("get"), None);
    assert!(put_once(&s, "job/a/b#c?", b"one").expect("first"));
    assert!(!put_once(&s, "job/a/b#c?", b"two").expect("second"));
    assert_eq!(
        s.get("job/a/b#c?").expect("get"),
        Some((b"one".to_vec(), 1))
    );
    assert!(matches!(
        s.put("job/a/b#c?", b"x", Some(7)),
        Err(PortError::Conflict(_))
    ));
    assert_eq!(s.put("job/a/b#c?", b"three", Some(1)).expect("put"), 2);

    // A value larger than one Table property is split over several.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    s.put("big", &big, None).expect("big");
    assert_eq!(s.get("big").expect("get").map(|(v, _)| v), Some(big));

    // 4 writers (the handful of concurrent invocations `update_json` is built for, which retries
    // 16 times without waiting) increment one counter 5 times each: no update is lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    update_json::<u64, ()>(&s, "counter", |n| *n += 1).expect("update");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let (v, _) = s.get("counter").expect("get").expect("exists");
    assert_eq!(serde_json::from_slice::<u64>(&v).expect("json"), 20);
}
