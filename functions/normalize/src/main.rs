//! Lambda function `normalize`: one normalize part per SQS record (`costkit_lambda::normalize`).

use costkit_lambda::{init_tracing, normalize, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<_>| {
        let app = app.clone();
        async move { Ok::<_, Error>(normalize::handle(&app, e.payload).await) }
    }))
    .await
}
