//! Graceful shutdown: a future that completes on Ctrl-C (SIGINT) or SIGTERM, for long runs
//! that finish what is in flight before they stop (`Migrator::migrate` and `rollback`,
//! `Relay::run`, `Consumer::run` each take one).

/// Completes when the process is asked to stop. If no signal handler can be installed it
/// never completes, so a run is never stopped by mistake.
pub async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
