//! The custom handler executable (`host.json` → `customHandler.description.defaultExecutablePath`):
//! serves every function on `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT`.

use anyhow::Context;
use costkit_azure_handler::{router, App};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    costkit_shell::init_tracing();
    let port: u16 = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .map(|p| {
            p.parse()
                .context("FUNCTIONS_CUSTOMHANDLER_PORT is not a port number")
        })
        .transpose()?
        .unwrap_or(8080);
    let app = App::from_env()?;
    // The host talks to the handler over loopback only.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    tracing::info!(port, "costkit custom handler listening");
    axum::serve(listener, router(app)).await?;
    Ok(())
}
