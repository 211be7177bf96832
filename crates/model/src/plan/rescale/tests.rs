//! Table tests of the in-place rescale rule and its steps.

use super::*;
use crate::plan::{self, Answers, FlinkJobState, FlinkView, Observed};
use crate::{
    DeploymentSpec, DeploymentTarget, DeploymentTargetStatus, JobSpec, JobState,
    SPEC_VERSION_ANNOTATION,
};

const SRC: &str = "f421c7059e6771b9a595acc02e87aaef";
const CNT: &str = "5b61d6019ab04da71a4e62533c1a8c40";

fn deployment(parallelism: u32, conf: &[(&str, &str)], version: u64) -> Deployment {
    let conf: serde_json::Map<String, serde_json::Value> = conf
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
        "state": "RUNNING",
        "upgradeStrategy": {"kind": "STATEFUL"},
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": "file:///a.jar"},
            "parallelism": parallelism,
            "flinkConfiguration": conf
        }}
    }))
    .unwrap();
    let mut d = Deployment::new("default", "d", spec);
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), version.to_string());
    d
}

/// A started job of `d` at spec version 1, with the derived directories a start adds.
fn job(d: &Deployment) -> Job {
    let mut conf = d.spec.template.spec.flink_configuration.clone();
    conf.insert("execution.checkpointing.dir".into(), "file:///ck".into());
    let spec = JobSpec {
        artifact: d.spec.template.spec.artifact.clone(),
        flink_configuration: conf,
        parallelism: d.spec.template.spec.parallelism,
        savepoint_location: None,
        savepoint_id: None,
        allow_non_restored_state: false,
        deployment_target_name: Some("default".into()),
    };
    let mut j = Job::new("default", d.metadata.id, "d", spec);
    j.status.state = JobState::Started;
    j.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
    j
}

fn vertices(p: u32) -> Vec<VertexView> {
    [SRC, CNT]
        .iter()
        .map(|id| VertexView {
            id: id.to_string(),
            parallelism: p,
            max_parallelism: 128,
            running: true,
        })
        .collect()
}

fn both(p: u32) -> BTreeMap<String, u32> {
    [(SRC.to_string(), p), (CNT.to_string(), p)].into()
}

#[test]
fn the_rule() {
    let base = deployment(1, &[], 1);
    let j = job(&base);
    let overrides = format!("{CNT}:3");
    let mut other_artifact = deployment(2, &[], 2);
    other_artifact.spec.template.spec.artifact.jar_uri = "file:///b.jar".into();
    let mut other_target = deployment(2, &[], 2);
    other_target.spec.deployment_target_name = Some("other".into());
    let mut small = vertices(1);
    small[1].max_parallelism = 2;
    let mut coded = vertices(1);
    coded[0].parallelism = 5;
    /// (case, deployment, adaptive scheduler, vertices, expected per-vertex parallelism or reason)
    type Case = (
        &'static str,
        Deployment,
        Option<bool>,
        Vec<VertexView>,
        Result<BTreeMap<String, u32>, &'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "parallelism only, adaptive",
            deployment(2, &[], 2),
            Some(true),
            vertices(1),
            Ok(both(2)),
        ),
        (
            "default scheduler",
            deployment(2, &[], 2),
            Some(false),
            vertices(1),
            Err("default scheduler"),
        ),
        (
            "scheduler not known",
            deployment(2, &[], 2),
            None,
            vertices(1),
            Err("not known"),
        ),
        (
            "artifact too",
            other_artifact,
            Some(true),
            vertices(1),
            Err("artifact"),
        ),
        (
            "target too",
            other_target,
            Some(true),
            vertices(1),
            Err("deployment target changed"),
        ),
        (
            "configuration too",
            deployment(2, &[("taskmanager.memory.process.size", "2g")], 2),
            Some(true),
            vertices(1),
            Err("taskmanager.memory.process.size"),
        ),
        (
            "an override",
            deployment(1, &[(VERTEX_OVERRIDES_KEY, &overrides)], 2),
            Some(true),
            vertices(1),
            Ok([(SRC.to_string(), 1), (CNT.to_string(), 3)].into()),
        ),
        (
            "an override of an unknown vertex",
            deployment(
                1,
                &[(VERTEX_OVERRIDES_KEY, "00000000000000000000000000000000:2")],
                2,
            ),
            Some(true),
            vertices(1),
            Err("which the job does not have"),
        ),
        (
            "an unreadable override",
            deployment(1, &[(VERTEX_OVERRIDES_KEY, "x")], 2),
            Some(true),
            vertices(1),
            Err("not <vertex id>:<parallelism>"),
        ),
        (
            "above max parallelism",
            deployment(3, &[], 2),
            Some(true),
            small,
            Err("above its max parallelism 2"),
        ),
        (
            "a vertex set in code keeps its parallelism",
            deployment(2, &[], 2),
            Some(true),
            coded,
            Ok([(SRC.to_string(), 5), (CNT.to_string(), 2)].into()),
        ),
        (
            "no vertices",
            deployment(2, &[], 2),
            Some(true),
            vec![],
            Err("no vertices"),
        ),
    ];
    for (name, d, adaptive, vs, want) in cases {
        let got = decide(&j, &d, adaptive, &vs);
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
            (Err(g), Err(w)) => assert!(g.contains(w), "{name}: {g}"),
            _ => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

fn target(scheduler: &str) -> TargetView {
    let mut t = DeploymentTarget::new("default", "default", "http://x");
    t.status = Some(DeploymentTargetStatus {
        flink_version: Some("2.3.0".into()),
        observed_at: crate::now(),
        reachable: true,
        message: None,
        scheduler: Some(scheduler.into()),
    });
    TargetView::Found {
        target: Box::new(t),
        cluster_version: Some("2.3.0".into()),
    }
}

fn running() -> FlinkView {
    FlinkView::Job {
        state: FlinkJobState::Running,
        all_tasks_running: true,
    }
}

fn plan_of(d: &Deployment, j: &Job, answers: &Answers) -> Action {
    plan::plan(&Observed {
        deployment: d,
        current_job: Some(j),
        last_job: Some(j),
        savepoints: &[],
        savepoints_configured: true,
        triggered: &[],
        answers,
        now: crate::now(),
    })
}

fn with_intent(j: &Job, p: u32, version: u64, age: i64) -> Job {
    let mut j = j.clone();
    let intent = Intent {
        spec_version: version,
        parallelism: both(p),
        since: crate::now() - Duration::seconds(age),
    };
    j.metadata.annotations.insert(
        RESCALE_ANNOTATION.into(),
        serde_json::to_string(&intent).unwrap(),
    );
    j
}

#[test]
fn the_steps() {
    let d = deployment(2, &[], 2);
    let j = job(&deployment(1, &[], 1));
    let id = j.metadata.id;
    let found = |p: u32, requested: Option<u32>| {
        Some((
            id,
            RescaleView::Found {
                vertices: vertices(p),
                requested: requested.map(both),
            },
        ))
    };
    let answers = |rescale, target: Option<TargetView>| Answers {
        job: running(),
        rescale,
        target,
        ..Answers::default()
    };
    let mut refused = j.clone();
    refused
        .metadata
        .annotations
        .insert(RESCALE_REFUSED_ANNOTATION.into(), "2".into());
    let mut refused_before = j.clone();
    refused_before
        .metadata
        .annotations
        .insert(RESCALE_REFUSED_ANNOTATION.into(), "1".into());
    // The upgrade strategy, which begins with its preflight (Flink plans the new template).
    let upgrade = Action::PlanUpgrade { job: id };
    let cases: Vec<(&str, Job, Answers, Action)> = vec![
        (
            "asks for the vertices and the target first",
            j.clone(),
            answers(None, None),
            Action::Observe {
                ask: Ask {
                    rescale: true,
                    target: Some("default".into()),
                    ..Ask::default()
                },
            },
        ),
        (
            "adaptive: in place",
            j.clone(),
            answers(found(1, Some(1)), Some(target("adaptive"))),
            Action::RescaleInPlace { job: id, parallelism: both(2) },
        ),
        (
            "default scheduler: fallback with the reason",
            j.clone(),
            answers(found(1, None), Some(target("default"))),
            Action::RescaleFallback {
                job: id,
                reason: "the deployment target's cluster runs Flink's default scheduler (set jobmanager.scheduler: adaptive to rescale in place)".into(),
            },
        ),
        ("refused for this version: the upgrade strategy", refused, answers(None, None), upgrade.clone()),
        (
            "refused for an older version: judged afresh",
            refused_before,
            answers(found(1, Some(1)), Some(target("adaptive"))),
            Action::RescaleInPlace { job: id, parallelism: both(2) },
        ),
        (
            "under way: waits for the vertices",
            with_intent(&j, 2, 2, 1),
            answers(found(1, Some(2)), None),
            Action::Wait {
                reason: "rescaling in place: waiting for every vertex to run at the new parallelism".into(),
                poll: None, // compared without the poll below
            },
        ),
        (
            "every vertex at the new parallelism: complete",
            with_intent(&j, 2, 2, 1),
            answers(found(2, Some(2)), None),
            Action::CompleteRescale { job: id },
        ),
        (
            "intent written, requirements never sent: send them",
            with_intent(&j, 2, 2, 1),
            answers(found(1, Some(1)), None),
            Action::RescaleInPlace { job: id, parallelism: both(2) },
        ),
        (
            "too long: fallback",
            with_intent(&j, 2, 2, 121),
            answers(found(1, Some(2)), None),
            Action::RescaleFallback {
                job: id,
                reason: "Flink did not run every vertex at the new parallelism within 120 s (not enough slots?)".into(),
            },
        ),
        (
            "Flink refused the requirements: fallback",
            with_intent(&j, 2, 2, 1),
            Answers {
                rescale_refused: Some((id, "no".into())),
                ..answers(found(1, Some(1)), None)
            },
            Action::RescaleFallback {
                job: id,
                reason: "Flink refused the new resource requirements: no".into(),
            },
        ),
        (
            "an intent of an older version: judged afresh",
            with_intent(&j, 3, 1, 1),
            answers(found(1, Some(3)), Some(target("adaptive"))),
            Action::RescaleInPlace { job: id, parallelism: both(2) },
        ),
    ];
    for (name, j, answers, want) in cases {
        let got = plan_of(&d, &j, &answers);
        match (&got, &want) {
            (Action::Wait { reason, poll }, Action::Wait { reason: w, .. }) => {
                assert_eq!(reason, w, "{name}");
                assert_eq!(
                    poll.map(|p| (p.ask, p.operation)),
                    Some((PollAsk::Rescale, Operation::Rescale)),
                    "{name}"
                );
            }
            _ => assert_eq!(got, want, "{name}"),
        }
    }
}

#[test]
fn not_about_parallelism_is_the_upgrade_as_before() {
    let mut d = deployment(1, &[], 2);
    d.spec.template.spec.artifact.jar_uri = "file:///b.jar".into();
    let j = job(&deployment(1, &[], 1));
    let answers = Answers {
        job: running(),
        ..Answers::default()
    };
    // The upgrade strategy, which begins with its preflight (Flink plans the new template).
    assert_eq!(
        plan_of(&d, &j, &answers),
        Action::PlanUpgrade { job: j.metadata.id }
    );
}
