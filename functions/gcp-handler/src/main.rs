//! The Cloud Run service (`costkit-gcp`): every route on `0.0.0.0:$PORT`.

use anyhow::Context;
use costkit_gcp_handler::{router, App};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    costkit_shell::init_tracing();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse().context("PORT is not a port number"))
        .transpose()?
        .unwrap_or(8080);
    let app = App::from_env().await?;
    let router = router(app).await?;
    // Cloud Run sends requests to the container's port on all interfaces.
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("binding 0.0.0.0:{port}"))?;
    tracing::info!(port, "costkit Cloud Run service listening");
    // Cloud Run sends SIGTERM before stopping an instance: finish the requests in flight.
    costkit_http::serve(listener, router, shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
            tracing::info!("SIGTERM: draining");
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
