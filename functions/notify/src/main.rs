//! Lambda function `notify`: findings to their channels, once each, and the daily digest flush
//! (`costkit_lambda::notify`).

use costkit_lambda::{init_tracing, notify, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { Ok::<_, Error>(notify::handle_any(&app, e.payload).await?) }
    }))
    .await
}
