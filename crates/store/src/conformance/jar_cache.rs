//! The jar cache: one jar id per (cluster, content hash).

use std::sync::Arc;

use crate::Store;

pub async fn jar_cache_get_put_forget(store: Arc<dyn Store>) {
    let (a, b) = ("http://127.0.0.1:8081", "http://127.0.0.1:9081");
    assert_eq!(store.jar_get(a, "abc").await.unwrap(), None);
    store.jar_put(a, "abc", "1111_job.jar").await.unwrap();
    assert_eq!(
        store.jar_get(a, "abc").await.unwrap().as_deref(),
        Some("1111_job.jar")
    );
    assert_eq!(store.jar_get(b, "abc").await.unwrap(), None, "per cluster");
    assert_eq!(store.jar_get(a, "def").await.unwrap(), None, "per content");

    store.jar_put(a, "abc", "2222_job.jar").await.unwrap();
    assert_eq!(
        store.jar_get(a, "abc").await.unwrap().as_deref(),
        Some("2222_job.jar"),
        "put replaces"
    );
    store.jar_put(b, "abc", "3333_job.jar").await.unwrap();

    store.jar_forget(a, "abc").await.unwrap();
    assert_eq!(store.jar_get(a, "abc").await.unwrap(), None);
    assert_eq!(
        store.jar_get(b, "abc").await.unwrap().as_deref(),
        Some("3333_job.jar")
    );
    store.jar_forget(a, "abc").await.unwrap();
}
