//! Lambda function `ingest`: the daily schedule / a backfill pulls Cost Explorer; a Data Exports
//! manifest queues its files (`costkit_lambda::ingest`).

use costkit_lambda::{ingest, init_tracing, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<_>| {
        let app = app.clone();
        async move { Ok::<_, Error>(ingest::handle(&app, e.payload).await?) }
    }))
    .await
}
