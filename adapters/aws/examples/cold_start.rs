//! Cold-start probe, run by hand (not a test): what a Lambda-like binary using the DynamoDB store
//! costs to start. Against moto:
//!
//! ```sh
//! scripts/moto.sh start && eval "$(scripts/moto.sh env)"
//! AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
//!   COSTKIT_AWS_ENDPOINT=$COSTKIT_MOTO_ENDPOINT cargo run --release -p costkit-aws --example cold_start
//! ```
//!
//! Prints the time to build the runtime, the clients and the store ("init"), the first and a warm
//! store call, and the peak RSS. Numbers measured so far are in `docs/aws-dynamodb.md`.

use std::time::Instant;

use costkit_core::store::{CostStore, Filter};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let clients = costkit_aws::AwsClients::from_env()?;
    let table = std::env::var("TABLE").unwrap_or_else(|_| "costkit-cold-start".into());
    let store = costkit_aws::DynamoStore::new(&clients, &table, rt.handle().clone());
    let init = t0.elapsed();
    rt.block_on(store.create_table())?;
    let t1 = Instant::now();
    let loads = store.loads()?;
    let rows = store.daily(&Filter::default())?;
    let first = t1.elapsed();
    let t2 = Instant::now();
    store.loads()?;
    println!(
        "init {init:?}, first calls {first:?}, warm call {:?}, loads {}, rows {}, peak RSS {} KiB",
        t2.elapsed(),
        loads.len(),
        rows.len(),
        peak_rss_kib()
    );
    Ok(())
}
