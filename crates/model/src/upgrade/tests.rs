//! Table tests of the comparison, on the example job's operator ids (`sequence-source`,
//! `count-per-key`, `print-sink`, and `stateless-map` of a variant), as Flink computes them.

use super::*;
use crate::snapshot::StateSizes;

const SOURCE: &str = "f421c7059e6771b9a595acc02e87aaef";
const COUNTER: &str = "5b61d6019ab04da71a4e62533c1a8c40";
const SINK: &str = "89f21f775f44942d9cc73c012629f763";
const MAP: &str = "9bb8cac041b0b678edb003b4580e22c8";
const RENAMED: &str = "0123456789abcdef0123456789abcdef";

fn op(id: &str, bytes: u64, coordinator: u64, max: u32) -> OperatorState {
    OperatorState {
        operator_id: id.into(),
        uid: None,
        name: None,
        parallelism: 1,
        max_parallelism: max,
        fully_finished: false,
        state: StateSizes {
            total: bytes,
            coordinator,
            ..StateSizes::default()
        },
    }
}

/// The example job's snapshot: source (coordinator state), counter (keyed state), sink (empty).
fn snapshot() -> Vec<OperatorState> {
    vec![
        op(SOURCE, 265, 400, 128),
        op(COUNTER, 1346, 0, 128),
        op(SINK, 0, 0, 128),
    ]
}

fn v(ids: &[&str], p: u32) -> Vec<(String, u32)> {
    ids.iter().map(|i| ((*i).to_string(), p)).collect()
}

fn graph(vertices: &[&str], unchained: Option<&[&str]>, p: u32, max: Option<u32>) -> NewGraph {
    NewGraph {
        vertices: v(vertices, p),
        unchained_ids: unchained.map(|u| v(u, p)),
        max_parallelism: max,
    }
}

fn fates(c: &Compatibility) -> Vec<(&str, Fate)> {
    c.operators
        .iter()
        .map(|o| (o.operator_id.as_str(), o.fate))
        .collect()
}

#[test]
fn table() {
    use Fate::*;
    struct Case {
        name: &'static str,
        graph: NewGraph,
        verdict: Verdict,
        fates: Vec<(&'static str, Fate)>,
    }
    let cases = [
        Case {
            name: "unchanged job, both plans",
            graph: graph(&[COUNTER, SOURCE], Some(&[SINK, COUNTER, SOURCE]), 1, None),
            verdict: Verdict::Compatible,
            fates: vec![(SOURCE, Restored), (COUNTER, Restored), (SINK, Restored)],
        },
        Case {
            name: "stateless map added (chained)",
            graph: graph(
                &[COUNTER, SOURCE],
                Some(&[SINK, MAP, COUNTER, SOURCE]),
                1,
                None,
            ),
            verdict: Verdict::Compatible,
            fates: vec![
                (SOURCE, Restored),
                (COUNTER, Restored),
                (SINK, Restored),
                (MAP, New),
            ],
        },
        Case {
            name: "counter uid renamed",
            graph: graph(&[RENAMED, SOURCE], Some(&[SINK, RENAMED, SOURCE]), 1, None),
            verdict: Verdict::DropsState,
            fates: vec![
                (SOURCE, Restored),
                (COUNTER, Dropped),
                (SINK, Restored),
                (RENAMED, New),
            ],
        },
        Case {
            name: "sink removed: it holds no state, Flink skips it",
            graph: graph(&[COUNTER, SOURCE], Some(&[COUNTER, SOURCE]), 1, None),
            verdict: Verdict::Compatible,
            fates: vec![(SOURCE, Restored), (COUNTER, Restored), (SINK, Skipped)],
        },
        Case {
            name: "max parallelism set to 64 in the template",
            graph: graph(
                &[COUNTER, SOURCE],
                Some(&[SINK, COUNTER, SOURCE]),
                1,
                Some(64),
            ),
            verdict: Verdict::Incompatible,
            fates: vec![
                (SOURCE, Incompatible),
                (COUNTER, Incompatible),
                (SINK, Incompatible),
            ],
        },
        Case {
            name: "max parallelism set to the snapshot's",
            graph: graph(
                &[COUNTER, SOURCE],
                Some(&[SINK, COUNTER, SOURCE]),
                1,
                Some(128),
            ),
            verdict: Verdict::Compatible,
            fates: vec![(SOURCE, Restored), (COUNTER, Restored), (SINK, Restored)],
        },
        Case {
            name: "parallelism above the snapshot's max parallelism",
            graph: graph(
                &[COUNTER, SOURCE],
                Some(&[SINK, COUNTER, SOURCE]),
                200,
                None,
            ),
            verdict: Verdict::Incompatible,
            fates: vec![
                (SOURCE, Incompatible),
                (COUNTER, Incompatible),
                (SINK, Incompatible),
            ],
        },
        Case {
            name: "only the chained plan: the sink is not a vertex, it holds no state",
            graph: graph(&[COUNTER, SOURCE], None, 1, None),
            verdict: Verdict::Compatible,
            fates: vec![(SOURCE, Restored), (COUNTER, Restored), (SINK, Skipped)],
        },
        Case {
            name:
                "only the chained plan: a stateful operator not a vertex is unknown, never restored",
            graph: graph(&[RENAMED, SOURCE], None, 1, None),
            verdict: Verdict::Unknown,
            fates: vec![
                (SOURCE, Restored),
                (COUNTER, Unknown),
                (SINK, Skipped),
                (RENAMED, New),
            ],
        },
        Case {
            name: "unchained ids disagree with the vertices (generated ids): not trusted",
            graph: graph(&[RENAMED, SOURCE], Some(&[SINK, COUNTER, SOURCE]), 1, None),
            verdict: Verdict::Unknown,
            fates: vec![
                (SOURCE, Restored),
                (COUNTER, Unknown),
                (SINK, Skipped),
                (RENAMED, New),
            ],
        },
        Case {
            name: "source renamed: its coordinator state counts, dropped",
            graph: graph(
                &[COUNTER, RENAMED],
                Some(&[SINK, COUNTER, RENAMED]),
                1,
                None,
            ),
            verdict: Verdict::DropsState,
            fates: vec![
                (SOURCE, Dropped),
                (COUNTER, Restored),
                (SINK, Restored),
                (RENAMED, New),
            ],
        },
    ];
    for c in cases {
        let got = compare(&snapshot(), &c.graph);
        assert_eq!(got.verdict, c.verdict, "{}: {:?}", c.name, got.reasons);
        assert_eq!(fates(&got), c.fates, "{}", c.name);
        assert!(!got.reasons.is_empty(), "{}", c.name);
    }
}

#[test]
fn refusal_names_the_operators_and_honours_allow_non_restored_state() {
    let mut s = snapshot();
    s[1].uid = Some("count-per-key".into());
    let dropped = compare(
        &s,
        &graph(&[RENAMED, SOURCE], Some(&[SINK, RENAMED, SOURCE]), 1, None),
    );
    let words = dropped.refusal(false).expect("refused");
    assert!(
        words.contains("count-per-key (5b61d6019ab04da71a4e62533c1a8c40)"),
        "{words}"
    );
    assert!(words.contains("allowNonRestoredState"), "{words}");
    assert_eq!(dropped.refusal(true), None);

    let incompatible = compare(
        &s,
        &graph(
            &[COUNTER, SOURCE],
            Some(&[SINK, COUNTER, SOURCE]),
            1,
            Some(64),
        ),
    );
    let words = incompatible
        .refusal(true)
        .expect("refused even with allowNonRestoredState");
    assert!(
        words.contains("from 128 (in the snapshot) to 64"),
        "{words}"
    );

    let fine = compare(
        &s,
        &graph(&[COUNTER, SOURCE], Some(&[SINK, COUNTER, SOURCE]), 1, None),
    );
    assert_eq!(fine.refusal(false), None);
}

#[test]
fn an_empty_snapshot_is_compatible_with_anything() {
    let got = compare(&[], &graph(&[COUNTER, SOURCE], None, 1, None));
    assert_eq!(got.verdict, Verdict::Compatible);
    assert_eq!(fates(&got), vec![(COUNTER, Fate::New), (SOURCE, Fate::New)]);
}
