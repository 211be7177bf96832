//! The PostgreSQL store over TLS, against a real server that accepts TCP connections only over TLS
//! (`hostssl` in its `pg_hba.conf`) with a certificate made here, by `openssl`, for this run: a CA and
//! a server certificate it signed for `localhost` and `127.0.0.1`.
//!
//! What the database URL's `sslmode` and `sslrootcert` do: `require` encrypts (without checking the
//! certificate), `verify-full` also checks that the certificate chains to `sslrootcert` (or the system's
//! roots) and names the host, `disable` does not encrypt and is refused by such a server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sqlx::{Connection, PgConnection};
use stateplane_model::Namespace;
use stateplane_store::{NamespaceStore, PostgresStore, StoreError};
use stateplane_testkit::postgres::{ServerTls, TestDatabase, TestPostgres};

/// The CA's certificate and the server that presents a certificate it signed.
struct Tls {
    ca: PathBuf,
    server: &'static TestPostgres,
    _dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (install it: apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            dir.path(),
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=stateplane test CA",
                ][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            dir.path(),
            &[
                &["req", "-subj", "/CN=localhost"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir.path(),
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let server = TestPostgres::start_tls(&ServerTls {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Tls {
            ca: dir.path().join("ca.crt"),
            server,
            _dir: dir,
        }
    })
}

/// A fresh database's URL with `sslmode=require` replaced by `params`.
fn url(db: &TestDatabase, params: &str) -> String {
    db.url().replace("sslmode=require", params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_session_of_the_store() {
    let db = tls().server.create_database();
    let store = PostgresStore::connect(&url(&db, "sslmode=require"))
        .await
        .expect("connects over TLS");
    store
        .namespace_create(&Namespace::new("over-tls"))
        .await
        .unwrap();
    assert_eq!(
        store.namespace_get("over-tls").await.unwrap().metadata.name,
        "over-tls"
    );

    // Every session the store opened (its pool and its listener) is encrypted.
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let own: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(own, "this session is encrypted too");
    let (sessions, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.application_name LIKE 'stateplane%'",
    )
    .bind(db.name())
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(sessions >= 2, "the pool's and the listener's: {sessions}");
    assert_eq!(encrypted, sessions);
    admin.close().await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_checks_the_certificate_against_sslrootcert() {
    let tls = tls();
    let db = tls.server.create_database();
    let ca = tls.ca.display();
    let store = PostgresStore::connect(&url(&db, &format!("sslmode=verify-full&sslrootcert={ca}")))
        .await
        .expect("the certificate chains to the CA and names 127.0.0.1");
    store
        .namespace_create(&Namespace::new("verified"))
        .await
        .unwrap();
    store.close().await;

    // Without the CA the certificate is not trusted: verification really happens.
    let untrusted = PostgresStore::connect(&url(&db, "sslmode=verify-full")).await;
    assert!(
        matches!(untrusted, Err(StoreError::Backend(_))),
        "{untrusted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_is_refused_by_a_server_that_requires_tls() {
    let db = tls().server.create_database();
    match PostgresStore::connect(&url(&db, "sslmode=disable")).await {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("pg_hba.conf"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
