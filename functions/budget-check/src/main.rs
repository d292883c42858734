//! Lambda function `budget-check`: a batch of `data_updated` messages (SQS) or a scheduled event
//! checks every budget once (`costkit_lambda::budget`).

use costkit_lambda::{budget, init_tracing, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<Value>| {
        let app = app.clone();
        async move { Ok::<_, Error>(budget::handle_event(&app, e.payload).await?) }
    }))
    .await
}
