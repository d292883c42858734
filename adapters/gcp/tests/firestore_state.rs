//! Firestore state items (the `StateStore` port) on Google's Firestore emulator: conditional
//! writes at the version read, create-once, concurrent read-modify-write.

mod common;

use costkit_core::ports::{put_once, update_json, PortError, StateStore};
use costkit_gcp::state::FirestoreState;
use costkit_gcp::Service;

fn state(rt: &tokio::runtime::Runtime) -> FirestoreState {
    FirestoreState::new(
        &common::gcp(&[Service::Firestore]),
        &common::unique("state"),
        rt.handle().clone(),
    )
    .expect("state")
}

#[test]
fn state_items_are_written_only_at_the_version_read() {
    let rt = common::runtime();
    let state = state(&rt);
    assert_eq!(state.get("job/a").expect("get"), None);
    let v1 = state.put("job/a", b"one", None).expect("create");
    assert!(
        matches!(
            state.put("job/a", b"again", None),
            Err(PortError::Conflict(_))
        ),
        "an existing item is not created twice"
    );
    assert!(!put_once(&state, "job/a", b"x").expect("put_once"));
    assert_eq!(
        state.get("job/a").expect("get"),
        Some((b"one".to_vec(), v1))
    );
    let v2 = state.put("job/a", b"two", Some(v1)).expect("update");
    assert!(v2 > v1, "versions grow: {v1} then {v2}");
    assert!(
        matches!(
            state.put("job/a", b"stale", Some(v1)),
            Err(PortError::Conflict(_))
        ),
        "a writer that read the first version lost"
    );
    assert!(
        matches!(
            state.put("job/never", b"x", Some(v1)),
            Err(PortError::Conflict(_))
        ),
        "an item expected at a version but missing is a conflict"
    );
    assert_eq!(
        state.get("job/a").expect("get"),
        Some((b"two".to_vec(), v2))
    );
    // Keys with any characters, binary values.
    let key = "delivery/slack #ops/finding?x=1&y=ü";
    let bytes: Vec<u8> = (0..=255u8).collect();
    assert!(put_once(&state, key, &bytes).expect("put_once"));
    assert_eq!(state.get(key).expect("get").map(|(b, _)| b), Some(bytes));
    // update_json retries over the conditional put: 8 threads add one each, none is lost.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                update_json(&state, "counter", |n: &mut u32| *n += 1).expect("update");
            });
        }
    });
    let (bytes, _) = state.get("counter").expect("get").expect("exists");
    assert_eq!(serde_json::from_slice::<u32>(&bytes).expect("json"), 8);
}

#[test]
fn a_value_too_large_for_a_document_is_refused_by_name() {
    let rt = common::runtime();
    let state = state(&rt);
    let big = vec![7u8; costkit_gcp::state::MAX_VALUE_BYTES + 1];
    let err = state
        .put("big", &big, None)
        .expect_err("too big")
        .to_string();
    assert!(err.contains("big") && err.contains("larger than"), "{err}");
    let ok = vec![7u8; 700_000];
    let v = state.put("fits", &ok, None).expect("fits");
    assert_eq!(state.get("fits").expect("get"), Some((ok, v)));
}
