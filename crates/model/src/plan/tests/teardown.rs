//! Deleting a deployment whose snapshots' data is disposed of first: disposals, then the deployment.

use super::*;
use crate::storage::teardown::{DELETION_ANNOTATION, DISPOSING_SNAPSHOT_DATA};

#[test]
fn a_deployment_being_deleted_goes_once_its_disposals_are_done() {
    let mut d = deployment(D::Cancelled, U::Stateful, 1);
    d.status.state = DeploymentState::Cancelled;
    let sp = |state| savepoint(&d, None, SavepointOrigin::UserRequest, state);
    let pending = sp(SavepointState::PendingDeletion);
    let failed = sp(SavepointState::FailedDeletion);
    let kept = sp(SavepointState::Completed);
    // not being deleted: nothing happens to it
    assert_eq!(run(&d, None, FlinkView::NotAsked, &[]), Action::Steady);
    d.metadata
        .annotations
        .insert(DELETION_ANNOTATION.into(), DISPOSING_SNAPSHOT_DATA.into());
    // (savepoints, want)
    let cases: Vec<(Vec<Savepoint>, Action)> = vec![
        (
            vec![kept.clone(), pending.clone()],
            Action::DisposeSavepoint {
                savepoint: pending.metadata.id,
            },
        ),
        (vec![kept.clone()], Action::DeleteDeployment),
        (vec![], Action::DeleteDeployment),
        // a failed disposal holds the deletion until the next DELETE
        (vec![failed.clone(), kept.clone()], Action::Steady),
    ];
    for (sps, want) in cases {
        assert_eq!(run(&d, None, FlinkView::NotAsked, &sps), want, "{sps:?}");
    }
}
