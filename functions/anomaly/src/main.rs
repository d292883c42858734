//! Lambda function `anomaly`: a batch of `data_updated` messages (SQS) or a scheduled event runs
//! the anomaly monitors once (`costkit_lambda::anomaly`).

use costkit_lambda::{anomaly, init_tracing, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<Value>| {
        let app = app.clone();
        async move { Ok::<_, Error>(anomaly::handle_event(&app, e.payload).await?) }
    }))
    .await
}
