//! Stopping servers cleanly: Ctrl-C or SIGTERM (what service managers send) ends the wait.
//!
//! The handlers are installed by [`listen`], synchronously, before the server starts: a
//! signal that arrives at any later instant is kept until [`Signals::recv`] looks, rather
//! than killing the process with the default action or waking nobody.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Installed handlers for Ctrl-C and SIGTERM.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<Signal>,
    #[cfg(unix)]
    terminate: Option<Signal>,
}

/// Installs the handlers now (inside a tokio runtime). One that cannot be installed is logged
/// and never fires.
pub fn listen() -> Signals {
    #[cfg(unix)]
    {
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        Signals {
            interrupt: install(SignalKind::interrupt(), "Ctrl-C"),
            terminate: install(SignalKind::terminate(), "SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        Signals {}
    }
}

impl Signals {
    /// Resolves on the first Ctrl-C or SIGTERM since [`listen`].
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            async fn one(s: Option<Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = one(self.interrupt) => {}
                () = one(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, listening from the first poll on. Prefer [`listen`] before
/// starting work.
pub async fn terminated() {
    listen().recv().await
}
