//! Lambda function `report`: the HTTP report API behind a Function URL
//! (`costkit_lambda::report`).

use costkit_lambda::{init_tracing, report, App};
use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = App::from_env()?;
    let router = report::router(&app).await?;
    run(router).await
}
