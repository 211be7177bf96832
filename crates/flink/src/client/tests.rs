//! Unit tests of the client that need no Flink: URL checks, path joining, an unreachable cluster.

use super::*;

#[test]
fn urls_are_validated() {
    for good in [
        "http://127.0.0.1:8081",
        "http://localhost:8081/",
        "https://flink.example/prefix/",
    ] {
        assert!(FlinkClient::new(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "localhost:8081",
        "ftp://x",
        "http://",
        "http://x?q=1",
        "http://u:p@x",
        "not a url",
    ] {
        assert!(
            matches!(FlinkClient::new(bad), Err(FlinkError::InvalidUrl { .. })),
            "{bad}"
        );
    }
}

#[test]
fn paths_are_joined_and_escaped() {
    let c = FlinkClient::new("http://127.0.0.1:8081/prefix/").unwrap();
    assert_eq!(c.rest_url(), "http://127.0.0.1:8081/prefix");
    assert_eq!(
        c.url(&["jobs", "overview"]).as_str(),
        "http://127.0.0.1:8081/prefix/jobs/overview"
    );
    assert_eq!(
        c.url(&["jars", "a b#c.jar", "run"]).as_str(),
        "http://127.0.0.1:8081/prefix/jars/a%20b%23c.jar/run"
    );
    let root = FlinkClient::new("http://127.0.0.1:8081").unwrap();
    assert_eq!(
        root.url(&["overview"]).as_str(),
        "http://127.0.0.1:8081/overview"
    );
}

#[tokio::test]
async fn unreachable_flink_is_a_retryable_connect_error() {
    // Port 9 (discard) is closed on loopback in any sane test environment.
    let c = FlinkClient::new("http://127.0.0.1:9")
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let err = c.overview().await.unwrap_err();
    assert!(
        matches!(err, FlinkError::Connect { .. } | FlinkError::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(!err.to_string().contains('\n'));
}
