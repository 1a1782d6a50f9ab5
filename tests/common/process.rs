//! Running the real `minsheng` binary in tests: a fresh SQLite file per test, and helpers to
//! wait for a server's port.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_minsheng");

/// A command for the binary with the repo's `faq/`, the given database and no stray settings
/// from the developer's environment or `.env`.
pub fn minsheng(db_url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FAQ_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("faq"))
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("minsheng.db").display())
}

/// A port that was free a moment ago, for a server the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
pub async fn wait_listening(port: u16, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listening on {port} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child's output collected as it arrives, readable while the child runs.
pub struct Captured {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Captured {
    pub fn start(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Captured {
        use tokio::io::AsyncReadExt;
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = text.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&chunk);
            }
        });
        Captured { text, reader }
    }

    /// What arrived so far.
    pub fn text(&self) -> String {
        let text = self.text.lock().map(|t| t.clone());
        text.unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Everything, once the child closed its end (waiting at most `within`).
    pub async fn finish(self, within: Duration) -> String {
        let Captured { text, reader } = self;
        let _ = tokio::time::timeout(within, reader).await;
        let out = text.lock().map(|t| t.clone());
        out.unwrap_or_else(|e| e.into_inner().clone())
    }
}
