//! The PostgreSQL store against a real PostgreSQL: the whole conformance suite (a fresh database per
//! case), plus what only PostgreSQL has: changes crossing from one store (replica) to another, the
//! listener's recovery, concurrent migrations and the leader lease.
//!
//! The server is the one `STATEPLANE_TEST_DATABASE_URL` names, or a throwaway one started from Debian's
//! `postgresql` package (see `stateplane_testkit::postgres`). Never skipped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use stateplane_model::{
    Deployment, DeploymentTarget, Namespace, Savepoint, SavepointOrigin, SavepointState,
    DEFAULT_NAMESPACE,
};
use stateplane_store::conformance::Fixture;
use stateplane_store::{
    Change, DeploymentStore, DeploymentTargetStore, EventStore, JarCacheStore, LeaderLease,
    NamespaceStore, PostgresStore, ResourceKind, SavepointFilter, SavepointStore, Store,
    StoreError,
};
use stateplane_testkit::postgres::{shared_server, TestDatabase};
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;

fn database() -> TestDatabase {
    shared_server().create_database()
}

async fn fresh() -> Fixture {
    let db = database();
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    Fixture::new(store, db)
}

stateplane_store::store_conformance_tests!(fresh().await);

mod common;
use common::spec;

/// The next change, waiting up to 10 s; lag is a failure here.
async fn next(rx: &mut Receiver<Change>) -> Change {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("expected a change, got {e:?}"),
        Err(_) => panic!("no change within 10 s"),
    }
}

/// Asserts that nothing arrives for a while (long enough for a notification to cross over).
async fn quiet(rx: &mut Receiver<Change>) {
    if let Ok(r) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        panic!("expected no change, got {r:?}");
    }
}

fn change(kind: ResourceKind, ns: &str, id: impl ToString, d: Option<&Deployment>) -> Change {
    Change {
        kind,
        namespace: ns.into(),
        id: id.to_string(),
        deployment_id: d.map(|d| d.metadata.id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_one_replica_reach_the_other_replicas_changes() {
    use ResourceKind as K;
    let db = database();
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let mut on_a = a.changes();
    let mut on_b = b.changes();
    let ns = "team-a";

    a.namespace_create(&Namespace::new(ns)).await.unwrap();
    let expected = change(K::Namespace, ns, ns, None);
    assert_eq!(next(&mut on_b).await, expected);
    assert_eq!(next(&mut on_a).await, expected, "announced locally as well");

    let d = Deployment::new(ns, "counter", spec());
    a.deployment_create(&d).await.unwrap();
    let d = b.deployment_update(&d).await.unwrap();
    let dep = Some(&d);
    for _ in 0..2 {
        assert_eq!(
            next(&mut on_b).await,
            change(K::Deployment, ns, d.metadata.id, dep)
        );
        assert_eq!(
            next(&mut on_a).await,
            change(K::Deployment, ns, d.metadata.id, dep)
        );
    }
    // What B read is what A wrote, with no cache in between.
    assert_eq!(a.deployment_get(ns, d.metadata.id).await.unwrap(), d);

    let s = Savepoint::new(
        ns,
        d.metadata.id,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
        None,
    );
    a.savepoint_create(&s).await.unwrap();
    assert_eq!(
        next(&mut on_b).await,
        change(K::Savepoint, ns, s.metadata.id, dep)
    );
    a.savepoint_delete(ns, s.metadata.id).await.unwrap();
    assert_eq!(
        next(&mut on_b).await,
        change(K::Savepoint, ns, s.metadata.id, dep),
        "a delete names the deployment too"
    );

    a.target_create(&DeploymentTarget::new(
        ns,
        "session",
        "http://127.0.0.1:8081",
    ))
    .await
    .unwrap();
    assert_eq!(
        next(&mut on_b).await,
        change(K::DeploymentTarget, ns, "session", None)
    );

    // A failed write announces nothing anywhere; the next good one arrives in order.
    assert!(matches!(
        a.deployment_update(&d.clone()).await.map(|_| ()),
        Ok(())
    ));
    assert!(matches!(
        a.deployment_update(&d).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        next(&mut on_b).await,
        change(K::Deployment, ns, d.metadata.id, dep)
    );
    quiet(&mut on_b).await;

    // Own writes are announced once: the listener skips what was already announced locally.
    while on_a.try_recv().is_ok() {}
    b.jar_put("http://x", "abc", "1_job.jar").await.unwrap();
    let mut gone = a.deployment_get(ns, d.metadata.id).await.unwrap();
    gone.spec.state = stateplane_model::DesiredState::Cancelled;
    b.deployment_update(&gone).await.unwrap();
    assert_eq!(
        next(&mut on_b).await,
        change(K::Deployment, ns, d.metadata.id, dep)
    );
    quiet(&mut on_b).await;
    assert_eq!(
        next(&mut on_a).await,
        change(K::Deployment, ns, d.metadata.id, dep)
    );
    quiet(&mut on_a).await;

    // A namespace delete: each deployment, then the namespace, in that order, on the other replica.
    b.target_delete(ns, "session").await.unwrap();
    assert_eq!(
        next(&mut on_a).await,
        change(K::DeploymentTarget, ns, "session", None)
    );
    a.namespace_delete(ns).await.unwrap();
    assert_eq!(
        next(&mut on_b).await,
        change(K::DeploymentTarget, ns, "session", None)
    );
    assert_eq!(
        next(&mut on_b).await,
        change(K::Deployment, ns, d.metadata.id, dep)
    );
    assert_eq!(next(&mut on_b).await, change(K::Namespace, ns, ns, None));
    quiet(&mut on_b).await;
}

/// The pid of the backend whose `application_name` is `app` in `db` (exactly one expected).
async fn backend_pid(admin: &mut PgConnection, db: &str, app: &str) -> i32 {
    let admin = tokio::sync::Mutex::new(admin);
    stateplane_testkit::wait::until_async(
        &format!("one backend named {app}"),
        Duration::from_secs(10),
        || async {
            let mut conn = admin.lock().await;
            let pids: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            )
            .bind(db)
            .bind(app)
            .fetch_all(&mut **conn)
            .await
            .unwrap();
            match pids.as_slice() {
                [pid] => Ok(*pid),
                _ => Err(format!("backends: {pids:?}")),
            }
        },
    )
    .await
}

/// Waits until a lease session in database `db` (at `url`) that does not hold the lock has tried for
/// it (its last query, finished, was `pg_try_advisory_lock`) later than `after` (a try seen before);
/// returns that session's pid and when the try began (seconds since the epoch).
async fn lease_try(url: &str, db: &str, after: Option<f64>) -> (i32, f64) {
    stateplane_testkit::wait::until_async(
        "a waiting lease to try for the lock",
        Duration::from_secs(10),
        || async move {
            let mut admin = PgConnection::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            let tries: Vec<(i32, f64)> = sqlx::query_as(
                "SELECT a.pid, extract(epoch FROM a.query_start)::float8 FROM pg_stat_activity a
                 WHERE a.datname = $1 AND a.application_name = 'stateplane-leader'
                   AND a.state = 'idle' AND a.query LIKE '%pg_try_advisory_lock%'
                   AND NOT EXISTS (SELECT 1 FROM pg_locks l
                                   WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)",
            )
            .bind(db)
            .fetch_all(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
            let _ = admin.close().await;
            tries
                .iter()
                .find(|(_, at)| after.is_none_or(|a| *at > a))
                .copied()
                .ok_or_else(|| format!("tries so far: {tries:?}"))
        },
    )
    .await
}

async fn terminate(admin: &mut PgConnection, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(done, "backend {pid} terminated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_reconnects_and_re_announces_what_subscribers_watch() {
    use ResourceKind as K;
    let db = database();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let d = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    b.deployment_create(&d).await.unwrap();
    let in_flight = Savepoint::new(
        DEFAULT_NAMESPACE,
        d.metadata.id,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
        None,
    );
    b.savepoint_create(&in_flight).await.unwrap();
    let done = Savepoint::new(
        DEFAULT_NAMESPACE,
        d.metadata.id,
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        None,
    );
    b.savepoint_create(&done).await.unwrap();
    b.target_create(&DeploymentTarget::new(
        DEFAULT_NAMESPACE,
        "session",
        "http://x:1",
    ))
    .await
    .unwrap();

    // A subscriber waiting in recv, like the controller and long-polls.
    let mut rx = b.changes();
    let waiting = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(next(&mut rx).await);
        }
        (got, rx)
    });
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let listener = backend_pid(&mut admin, db.name(), "stateplane-listener").await;
    terminate(&mut admin, listener).await;

    // Once listening again, the store announces every deployment and target and the savepoints in
    // flight: what a subscriber may have missed.
    let (mut got, mut rx) = waiting.await.unwrap();
    got.sort_by_key(|c| c.id.clone());
    let mut expected = vec![
        change(K::Deployment, DEFAULT_NAMESPACE, d.metadata.id, Some(&d)),
        change(K::DeploymentTarget, DEFAULT_NAMESPACE, "session", None),
        change(
            K::Savepoint,
            DEFAULT_NAMESPACE,
            in_flight.metadata.id,
            Some(&d),
        ),
    ];
    expected.sort_by_key(|c| c.id.clone());
    assert_eq!(got, expected);
    quiet(&mut rx).await;
    let reconnected = backend_pid(&mut admin, db.name(), "stateplane-listener").await;
    assert_ne!(reconnected, listener);

    // And other replicas' changes arrive again.
    let a = PostgresStore::connect(db.url()).await.unwrap();
    a.namespace_create(&Namespace::new("after")).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        change(K::Namespace, "after", "after", None)
    );
    a.close().await;
    b.close().await;
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let db = database();
    let url = db.url().to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let url = url.clone();
        tasks.spawn(async move { PostgresStore::connect(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(r) = tasks.join_next().await {
        stores.push(r.unwrap().expect("every replica connects"));
    }
    let names = common::namespace_names(&stores[0]).await;
    assert_eq!(names, [DEFAULT_NAMESPACE], "default is created once");
    let mut conn = PgConnection::connect(&url).await.unwrap();
    common::assert_each_migration_applied_once::<sqlx::Postgres>(&mut conn, "postgres").await;
    conn.close().await.unwrap();
    for s in stores {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_sort_bytewise_like_sqlite() {
    let db = database();
    let store = PostgresStore::connect(db.url()).await.unwrap();
    for name in ["b", "a-z", "az", "a0"] {
        store.namespace_create(&Namespace::new(name)).await.unwrap();
    }
    let names = common::namespace_names(&store).await;
    // '-' < '0' < 'z' in bytes; a locale collation would ignore the '-'.
    assert_eq!(names, ["a-z", "a0", "az", "b", "default"]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_row_is_an_error_not_a_panic() {
    let db = database();
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let (d, corrupt) = common::rows_to_corrupt(&store).await;
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    common::run::<sqlx::Postgres>(&mut conn, corrupt).await;
    conn.close().await.unwrap();
    common::assert_corrupt_rows_fail(&store, &d).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_appended_during_a_namespace_delete_fail_cleanly() {
    // The controller may append events while a namespace is deleted from another replica: each append
    // either lands before the delete (and goes with it) or fails with NotFound, never a backend error.
    let db = database();
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    a.namespace_create(&Namespace::new("doomed")).await.unwrap();
    let d = Deployment::new("doomed", "counter", spec());
    a.deployment_create(&d).await.unwrap();
    // Appends (counting the ones that landed) until one is refused, then 20 more (at most 10 000).
    let landed = Arc::new(AtomicUsize::new(0));
    let counter = landed.clone();
    let appender = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        let mut after_refusal = None;
        for i in 0..10_000 {
            let e = stateplane_model::Event::new(
                "doomed",
                d.metadata.id,
                stateplane_model::EventName::GeneralFailure,
                format!("event {i}"),
            );
            let o = a.event_append(&e).await;
            if o.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            if o.is_err() && after_refusal.is_none() {
                after_refusal = Some(20);
            }
            outcomes.push(o);
            match &mut after_refusal {
                Some(0) => break,
                Some(n) => *n -= 1,
                None => {}
            }
        }
        outcomes
    });
    // The delete comes while appends are landing.
    stateplane_testkit::wait::until_async("a first event to land", Duration::from_secs(10), || {
        let n = landed.load(Ordering::SeqCst);
        async move { (n > 0).then_some(()).ok_or_else(|| "none yet".to_string()) }
    })
    .await;
    b.namespace_delete("doomed").await.unwrap();
    let outcomes = appender.await.unwrap();
    let mut failed = false;
    for o in &outcomes {
        match o {
            Ok(()) => assert!(!failed, "nothing lands after the namespace is gone"),
            Err(StoreError::NotFound { .. }) => failed = true,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert!(
        outcomes.first().is_some_and(Result::is_ok),
        "appends landed before the delete"
    );
    assert!(
        failed,
        "appends after the delete were refused: {} landed",
        outcomes.len()
    );
    b.close().await;
}

/// Records which lease leads when, for the lease tests.
#[derive(Default)]
struct Leadership {
    active: AtomicUsize,
    most_at_once: AtomicUsize,
    log: Mutex<Vec<(usize, &'static str, Instant)>>,
}

impl Leadership {
    fn run(
        self: &Arc<Self>,
        lease: LeaderLease,
        who: usize,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let shutdown = CancellationToken::new();
        let me = self.clone();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            lease
                .run(token, move |cancel| {
                    let me = me.clone();
                    async move {
                        let now = me.active.fetch_add(1, Ordering::SeqCst) + 1;
                        me.most_at_once.fetch_max(now, Ordering::SeqCst);
                        me.log.lock().unwrap().push((who, "start", Instant::now()));
                        cancel.cancelled().await;
                        me.log.lock().unwrap().push((who, "stop", Instant::now()));
                        me.active.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .await
        });
        (shutdown, handle)
    }

    fn events(&self) -> Vec<(usize, &'static str)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(w, e, _)| (*w, *e))
            .collect()
    }

    async fn wait_for(&self, what: &[(usize, &'static str)], within: Duration) -> Instant {
        stateplane_testkit::wait::until_async(&format!("leadership {what:?}"), within, || {
            let seen = self.events();
            let last = self.log.lock().unwrap().last().map(|e| e.2);
            async move {
                match last {
                    Some(at) if seen == what => Ok(at),
                    _ => Err(format!("{seen:?}")),
                }
            }
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_quick_takeover() {
    let db = database();
    let seen = Arc::new(Leadership::default());
    let (stop1, one) = seen.run(LeaderLease::new(db.url()).unwrap(), 1);
    seen.wait_for(&[(1, "start")], Duration::from_secs(10))
        .await;
    let (stop2, two) = seen.run(LeaderLease::new(db.url()).unwrap(), 2);
    // The second has tried for the lease twice (it retries every second) and not started.
    let (pid, first) = lease_try(db.url(), db.name(), None).await;
    let (again, _) = lease_try(db.url(), db.name(), Some(first)).await;
    assert_eq!(pid, again, "the same waiting session tried again");
    assert_eq!(seen.events(), [(1, "start")], "the second waits");

    // A clean shutdown hands over: the lock is released, the other takes over within seconds.
    stop1.cancel();
    one.await.unwrap();
    let handed = Instant::now();
    let started = seen
        .wait_for(
            &[(1, "start"), (1, "stop"), (2, "start")],
            Duration::from_secs(10),
        )
        .await;
    assert!(
        started - handed < Duration::from_secs(5),
        "{:?}",
        started - handed
    );

    // The server ends the leader's session: it stops before a new leader starts.
    let (stop3, three) = seen.run(LeaderLease::new(db.url()).unwrap(), 3);
    // The third is connected and waiting (it has tried once) before the leader's session ends.
    lease_try(db.url(), db.name(), None).await;
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let holder: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    terminate(&mut admin, holder).await;
    let killed = Instant::now();
    let started = seen
        .wait_for(
            &[
                (1, "start"),
                (1, "stop"),
                (2, "start"),
                (2, "stop"),
                (3, "start"),
            ],
            Duration::from_secs(15),
        )
        .await;
    assert!(
        started - killed < Duration::from_secs(8),
        "{:?}",
        started - killed
    );
    assert_eq!(
        seen.most_at_once.load(Ordering::SeqCst),
        1,
        "never two leaders"
    );

    stop2.cancel();
    stop3.cancel();
    two.await.unwrap();
    three.await.unwrap();
    assert_eq!(seen.active.load(Ordering::SeqCst), 0);
    admin.close().await.unwrap();
}

/// A database made by an earlier release, with a RUNNING deployment in it: connecting with this
/// release upgrades it (every migration applied), and the deployment counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_is_upgraded_at_connect() {
    let db = database();
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let d = common::earlier_release_database::<sqlx::Postgres>(&mut conn, "postgres").await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    common::assert_upgraded(&store, &d).await;
    common::assert_each_migration_applied_once::<sqlx::Postgres>(&mut conn, "postgres").await;
    conn.close().await.unwrap();
    store.close().await;
}

/// Two stores on one database (two pools: two replicas) create requested savepoints for one
/// deployment at the same time. A deferred trigger numbers each insert as its transaction commits;
/// ordered by that number (commit order), the savepoints' `createdAt` must rise, for every pair:
/// whoever lists them never sees a newer one without every older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_savepoints_commit_in_created_at_order_across_replicas() {
    let db = database();
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let d = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    a.deployment_create(&d).await.unwrap();
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    for sql in [
        "CREATE SEQUENCE commit_order",
        "CREATE TABLE committed (id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        "CREATE FUNCTION number_commit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO committed VALUES (NEW.id, nextval('commit_order')); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER number_commit AFTER INSERT ON savepoints
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION number_commit()",
    ] {
        sqlx::query(sql).execute(&mut admin).await.unwrap();
    }

    const EACH: usize = 40;
    let mut tasks = tokio::task::JoinSet::new();
    for store in [a.clone(), b.clone()] {
        for _ in 0..EACH {
            let store = store.clone();
            let s = Savepoint::new(
                DEFAULT_NAMESPACE,
                d.metadata.id,
                SavepointOrigin::UserRequest,
                SavepointState::Started,
                None,
            );
            tasks.spawn(async move { store.savepoint_create_ordered(&s).await });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().expect("every create succeeds");
    }

    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.created_at, c.n FROM savepoints s JOIN committed c USING (id) ORDER BY c.n",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2 * EACH);
    for pair in rows.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "committed as #{} before #{}, but created at {} and {}",
            pair[0].1,
            pair[1].1,
            pair[0].0,
            pair[1].0
        );
    }
    // The stored bodies agree with the column (what the controller compares).
    let listed = a
        .savepoint_list(
            DEFAULT_NAMESPACE,
            &SavepointFilter {
                deployment_id: Some(d.metadata.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut times: Vec<_> = listed.iter().map(|s| s.metadata.created_at).collect();
    times.dedup();
    assert_eq!(times.len(), 2 * EACH);
    admin.close().await.unwrap();
    a.close().await;
    b.close().await;
}
