//! Namespace fences on snapshot locations: a namespace's savepoint resources may not point into
//! another namespace's derived blob-storage directories.
//!
//! Restoring a snapshot reads its state; a registration (or a copy of one registered before this rule)
//! under `<blob>/flink-{savepoints,checkpoints}/namespaces/<other>/…` would let an editor of one
//! namespace restore another namespace's state into its own job, across the boundary access control
//! exists to keep. The check is made before storage is read, so a refused location is not even
//! looked at; the layout it reads is the one stateplane derives ([`stateplane_model::storage::layout`]).

use stateplane_model::storage::layout;

use crate::error::{ApiError, ApiResult};

/// Refuses `location` (the value of `field`) for a savepoint of namespace `ns` when it lies under
/// another namespace's derived prefix (422 naming the field, and only the namespace that owns it).
pub fn check(ns: &str, location: &str, blob_base: Option<&str>, field: &str) -> ApiResult<()> {
    let Some(derived) = blob_base.and_then(|b| layout::derived(location, b)) else {
        return Ok(());
    };
    if derived.namespace == ns {
        return Ok(());
    }
    Err(ApiError::invalid(
        field,
        format!(
            "the location lies under namespace '{}''s blob-storage directory ({}/namespaces/{}/…): a \
             namespace's savepoints may come only from its own directories or from outside \
             stateplane's",
            derived.namespace,
            derived.tree.dir(),
            derived.namespace
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_namespaces_prefix_is_refused() {
        let b = Some("s3://bucket/base");
        let theirs = "s3://bucket/base/flink-savepoints/namespaces/b/deployments/D/S/savepoint-1";
        let e = check("a", theirs, b, "spec.savepointLocation").unwrap_err();
        assert!(
            matches!(&e, ApiError::InvalidField { field, message }
                if field == "spec.savepointLocation" && message.contains("namespace 'b'")),
            "{e:?}"
        );
        let theirs_ck = "s3://bucket/base/flink-checkpoints/namespaces/b/deployments/D/J/chk-1";
        assert!(check("a", theirs_ck, b, "f").is_err());
        assert!(check("b", theirs, b, "f").is_ok(), "its own");
        assert!(check("a", "s3://bucket/elsewhere/savepoint-1", b, "f").is_ok());
        assert!(
            check("a", theirs, None, "f").is_ok(),
            "no blob storage, no layout"
        );
        // a namespace whose name starts like another's is another namespace
        let ab = "s3://bucket/base/flink-savepoints/namespaces/ab/x";
        assert!(check("a", ab, b, "f").is_err());
    }
}
