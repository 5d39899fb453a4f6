//! The relay's metrics, in Prometheus text format, served by a tiny HTTP responder.
//!
//! Counters (`sent`, `failed`, `dead`) count what this relay process did since it started;
//! gauges (`backlog`, `dead rows`, `oldest age`) describe the whole table and are refreshed
//! by the relay every few seconds. No label carries anything from the database URL.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The longest request head the responder reads.
const MAX_REQUEST: usize = 8 * 1024;

/// Counters and gauges of one relay process. Cheap to share behind an [`Arc`].
#[derive(Debug, Default)]
pub struct Metrics {
    sent: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    backlog: AtomicU64,
    dead_rows: AtomicU64,
    /// Milliseconds.
    oldest_age: AtomicU64,
}

impl Metrics {
    /// Messages published and deleted from the outbox.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Failed send attempts (each retry counts).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Rows this relay marked dead.
    pub fn dead(&self) -> u64 {
        self.dead.load(Ordering::Relaxed)
    }

    /// Rows waiting to be sent, at the last refresh.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Dead rows in the table, at the last refresh.
    pub fn dead_rows(&self) -> u64 {
        self.dead_rows.load(Ordering::Relaxed)
    }

    /// Age of the oldest waiting row in seconds, at the last refresh.
    pub fn oldest_age_seconds(&self) -> f64 {
        self.oldest_age.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub(crate) fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_dead(&self, n: u64) {
        self.dead.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_table(&self, backlog: u64, dead_rows: u64, oldest_age_seconds: f64) {
        self.backlog.store(backlog, Ordering::Relaxed);
        self.dead_rows.store(dead_rows, Ordering::Relaxed);
        self.oldest_age
            .store((oldest_age_seconds * 1000.0) as u64, Ordering::Relaxed);
    }

    /// The metrics in Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "lariat_outbox_sent_total",
            "counter",
            "Messages published and deleted from the outbox by this relay.",
            self.sent().to_string(),
        );
        metric(
            "lariat_outbox_failed_total",
            "counter",
            "Failed send attempts by this relay; each retry counts.",
            self.failed().to_string(),
        );
        metric(
            "lariat_outbox_dead_total",
            "counter",
            "Rows this relay marked dead.",
            self.dead().to_string(),
        );
        metric(
            "lariat_outbox_backlog",
            "gauge",
            "Rows waiting to be sent (not dead), in the whole table.",
            self.backlog().to_string(),
        );
        metric(
            "lariat_outbox_dead_rows",
            "gauge",
            "Dead rows in the whole table.",
            self.dead_rows().to_string(),
        );
        metric(
            "lariat_outbox_oldest_age_seconds",
            "gauge",
            "Age of the oldest row waiting to be sent.",
            format!("{:.3}", self.oldest_age_seconds()),
        );
        out
    }
}

/// Answers `GET /metrics` (and `GET /`) on `listener` with [`Metrics::render`], 404 to
/// anything else, one connection at a time per task; runs until the task is dropped.
pub async fn serve_metrics(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "metrics endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &metrics).await {
                tracing::debug!(error = %err, "metrics endpoint: connection failed");
            }
        });
    }
}

async fn answer(mut stream: tokio::net::TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics" | "/")) => ("200 OK", metrics.render()),
        _ => ("404 Not Found", "not found: GET /metrics\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.add_sent(5);
        metrics.add_failed(2);
        metrics.add_dead(1);
        metrics.set_table(7, 3, 1.5);
        let text = metrics.render();
        for line in [
            "lariat_outbox_sent_total 5",
            "lariat_outbox_failed_total 2",
            "lariat_outbox_dead_total 1",
            "lariat_outbox_backlog 7",
            "lariat_outbox_dead_rows 3",
            "lariat_outbox_oldest_age_seconds 1.500",
            "# TYPE lariat_outbox_sent_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[tokio::test]
    async fn serves_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::default());
        metrics.add_sent(3);
        let server = tokio::spawn(serve_metrics(listener, metrics));
        let get = |path: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let mut text = String::new();
            stream.read_to_string(&mut text).await.expect("read");
            text
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("lariat_outbox_sent_total 3"), "{ok}");
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}
