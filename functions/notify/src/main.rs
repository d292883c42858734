//! Lambda function `notify`: findings to the alert topic, once each (`costkit_lambda::notify`).

use costkit_lambda::{init_tracing, notify, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    run(service_fn(|e: LambdaEvent<_>| {
        let app = app.clone();
        async move { Ok::<_, Error>(notify::handle(&app, e.payload).await) }
    }))
    .await
}
