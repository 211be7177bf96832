//! One real PostgreSQL server per test binary, and a fresh database per test.
//!
//! Why: the PostgreSQL store, its notifications and the leader lease are only worth testing against a
//! real server. Tests get their own database from [`TestPostgres::create_database`] (dropped again by
//! the returned guard), so they never see each other's rows and can run in parallel.
//!
//! Where the server comes from:
//! - with `STATEPLANE_TEST_DATABASE_URL` set (e.g. `postgres://postgres:secret@db.example:5432/postgres`),
//!   that server is used: the URL's user must be allowed to `CREATE DATABASE`; test databases are named
//!   `stateplane_test_*` and dropped after each test. Nothing is started or stopped.
//! - otherwise a throwaway server is started from Debian's `postgresql` package (`initdb` and `pg_ctl`
//!   from the newest `/usr/lib/postgresql/*/bin`, or `pg_config --bindir`) in a temp dir, on a free
//!   loopback port, with trust authentication and `fsync=off` (its data is thrown away). PostgreSQL
//!   refuses to run as root, so as root it runs as the `postgres` user (which the package creates) or
//!   `nobody`, through `runuser`. It is stopped (`pg_ctl stop -m immediate`) and its directory removed
//!   when the test process exits however it exits: a watchdog shell blocks reading a pipe whose only
//!   writer is this process, exactly like the Flink cluster's (see [`crate::flink`]).
//!
//! A test of TLS starts a server of its own with [`TestPostgres::start_tls`]: the same throwaway server,
//! presenting the certificate the test made and accepting TCP connections only over TLS (`hostssl` in
//! `pg_hba.conf`), so a client that does not encrypt is refused.
//!
//! Missing binaries are an error with instructions, never a silent skip: `scripts/test.sh` installs the
//! package.
//!
//! Databases are created and dropped with `psql` (from the same package, or on `PATH`), so this module
//! needs no async runtime and no database driver.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The variable naming an existing server to use instead of starting one.
pub const DATABASE_URL_VAR: &str = "STATEPLANE_TEST_DATABASE_URL";

/// Longest wait for `pg_ctl start`.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for one `psql` command.
const PSQL_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server shared by the tests of one test binary.
#[derive(Debug)]
pub struct TestPostgres {
    /// URL of a database to connect to for administration (`CREATE DATABASE`).
    admin_url: String,
    /// Where `psql` is.
    psql: PathBuf,
    /// Write end of the watchdog's pipe (a started server only); never written, never dropped.
    _watchdog: Option<Mutex<ChildStdin>>,
}

/// The certificate (chain) and private key, PEM files, that a TLS test server presents.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A database created for one test; dropped (with every connection to it) when this guard drops.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    name: String,
    server: &'static TestPostgres,
}

/// The server of this test binary, started on first use (blocking, a few seconds).
///
/// # Panics
/// When no server can be used or started; the message says what to install or set. Later calls panic
/// with the same message instead of retrying.
pub fn shared_server() -> &'static TestPostgres {
    static SERVER: OnceLock<Result<TestPostgres, String>> = OnceLock::new();
    match SERVER.get_or_init(TestPostgres::start_or_attach) {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

impl TestPostgres {
    /// The URL of the administrative database.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Creates an empty database with a unique name and returns its guard.
    ///
    /// # Panics
    /// When `CREATE DATABASE` fails.
    pub fn create_database(&'static self) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "stateplane_test_{}_{}_{nanos:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = self.psql(&format!("CREATE DATABASE {name}")) {
            panic!("cannot create test database {name}: {e}");
        }
        TestDatabase {
            url: with_database(&self.admin_url, &name),
            name,
            server: self,
        }
    }

    /// Runs one SQL command on the administrative database.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(&self.psql);
        cmd.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&self.admin_url)
            .arg("-c")
            .arg(sql)
            .env("PGCONNECT_TIMEOUT", "10");
        let out = run(cmd, PSQL_TIMEOUT)?;
        Ok(out.trim().to_string())
    }

    /// Starts a throwaway server of this test binary's own (never the shared one, never
    /// `STATEPLANE_TEST_DATABASE_URL`'s) that presents `tls` and accepts TCP connections only over TLS.
    /// Its [`TestPostgres::admin_url`], and the URLs of its databases, ask for `sslmode=require`.
    /// Stopped when the test process exits, like the shared one.
    pub fn start_tls(tls: &ServerTls) -> Result<&'static TestPostgres, String> {
        let server = start_local(&bin_dir()?, Some(tls))?;
        // Lives until the process exits, as its watchdog does.
        Ok(Box::leak(Box::new(server)))
    }

    fn start_or_attach() -> Result<TestPostgres, String> {
        if let Ok(url) = std::env::var(DATABASE_URL_VAR) {
            let url = url.trim().to_string();
            let psql = bin_dir()
                .ok()
                .map(|d| d.join("psql"))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("psql"));
            let server = TestPostgres {
                admin_url: url,
                psql,
                _watchdog: None,
            };
            server.psql("SELECT 1").map_err(|e| {
                format!("{DATABASE_URL_VAR} is set but its server cannot be used: {e}")
            })?;
            eprintln!("stateplane-testkit: using PostgreSQL from {DATABASE_URL_VAR}");
            return Ok(server);
        }
        let bin = bin_dir()?;
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match start_local(&bin, None) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(format!(
            "cannot start a PostgreSQL test server: {last_error}\n(set {DATABASE_URL_VAR} to use an existing one)"
        ))
    }
}

impl TestDatabase {
    /// `postgres://…/<this database>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE ends sessions still connected (a store's pool, a killed server's lease).
        if let Err(e) = self.server.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!(
                "stateplane-testkit: cannot drop test database {}: {e}",
                self.name
            );
        }
    }
}

/// The directory of `initdb`, `pg_ctl` and `psql`: the newest `/usr/lib/postgresql/<version>/bin`, else
/// `pg_config --bindir`.
fn bin_dir() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    Err(format!(
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin or \
         pg_config --bindir: install them (`apt-get install -y postgresql`; scripts/test.sh does) or set \
         {DATABASE_URL_VAR} to a server where the user may CREATE DATABASE"
    ))
}

/// Who runs the server: `None` for this process's user, `Some(user)` (through `runuser`) as root.
fn server_user() -> Result<Option<(String, u32, u32)>, String> {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot read /proc/self: {e}"))?;
    if uid != 0 {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
                .flatten()
        };
        if let (Some(u), Some(g)) = (id("-u"), id("-g")) {
            return Ok(Some((user.to_string(), u, g)));
        }
    }
    Err(
        "running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
            .into(),
    )
}

/// A command run as the server's user.
fn as_user(user: &Option<(String, u32, u32)>, program: &Path) -> Command {
    match user {
        Some((name, _, _)) => {
            let mut c = Command::new("runuser");
            c.args(["-u", name, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn start_local(bin: &Path, tls: Option<&ServerTls>) -> Result<TestPostgres, String> {
    let user = server_user()?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let work = std::env::temp_dir().join(format!(
        "stateplane-postgres-{}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    if let Some((_, uid, gid)) = &user {
        std::os::unix::fs::chown(&work, Some(*uid), Some(*gid))
            .map_err(|e| format!("cannot hand {} to the server's user: {e}", work.display()))?;
    }
    let data = work.join("data");
    let port = crate::free_port();
    // Started before the server, so whatever happens next is cleaned up.
    let watchdog = spawn_watchdog(bin, &user, &work, &data)?;

    let mut initdb = as_user(&user, &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .env("LC_ALL", "C");
    run(initdb, START_TIMEOUT).map_err(|e| format!("initdb failed: {e}"))?;

    let mut settings = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB",
        work.display()
    );
    let mut query = "";
    if let Some(tls) = tls {
        require_tls(&data, tls, &user)?;
        settings.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        query = "?sslmode=require";
    }
    let mut pg_ctl = as_user(&user, &bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(work.join("server.log"))
        .args([
            "-w",
            "-t",
            &START_TIMEOUT.as_secs().to_string(),
            "-o",
            &settings,
            "start",
        ]);
    let started = Instant::now();
    if let Err(e) = run(pg_ctl, START_TIMEOUT) {
        let log = std::fs::read_to_string(work.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(format!(
            "pg_ctl start failed: {e}\nserver log (newest first):\n{}",
            tail.join("\n")
        ));
    }
    let server = TestPostgres {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres{query}"),
        psql: bin.join("psql"),
        _watchdog: Some(Mutex::new(watchdog)),
    };
    eprintln!(
        "stateplane-testkit: PostgreSQL at 127.0.0.1:{port} started in {:.1}s (dir {})",
        started.elapsed().as_secs_f64(),
        work.display()
    );
    Ok(server)
}

/// Puts the server's certificate and key into its data directory (the key readable by the server's
/// user alone, as PostgreSQL demands) and lets TCP clients in only over TLS; the Unix socket stays open
/// to the server's own tools.
fn require_tls(
    data: &Path,
    tls: &ServerTls,
    user: &Option<(String, u32, u32)>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for (from, name, mode) in [
        (&tls.cert, "server.crt", 0o644),
        (&tls.key, "server.key", 0o600),
    ] {
        let to = data.join(name);
        std::fs::copy(from, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set the mode of {}: {e}", to.display()))?;
        if let Some((_, uid, gid)) = user {
            std::os::unix::fs::chown(&to, Some(*uid), Some(*gid))
                .map_err(|e| format!("cannot hand {} to the server's user: {e}", to.display()))?;
        }
    }
    let hba =
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n";
    std::fs::write(data.join("pg_hba.conf"), hba)
        .map_err(|e| format!("cannot write pg_hba.conf: {e}"))
}

/// Starts the watchdog described in the module docs and returns the write end of its stdin.
fn spawn_watchdog(
    bin: &Path,
    user: &Option<(String, u32, u32)>,
    work: &Path,
    data: &Path,
) -> Result<ChildStdin, String> {
    const WATCHDOG: &str = r#"
trap '' INT HUP
# Blocks until the test process (the only writer of this pipe) is gone.
read -r _ignored || true
if [ -f "$2/postmaster.pid" ]; then
  if [ -n "$4" ]; then runuser -u "$4" -- "$3/pg_ctl" -D "$2" -m immediate -w -t 30 stop
  else "$3/pg_ctl" -D "$2" -m immediate -w -t 30 stop; fi
fi
[ "$5" = 1 ] || rm -rf "$1"
"#;
    let keep = if std::env::var("STATEPLANE_TEST_KEEP_POSTGRES").as_deref() == Ok("1") {
        "1"
    } else {
        "0"
    };
    let log = std::fs::File::create(work.join("watchdog.log"))
        .map_err(|e| format!("cannot create watchdog log in {}: {e}", work.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot clone watchdog log handle: {e}"))?;
    let user_name = user.as_ref().map(|(n, _, _)| n.as_str()).unwrap_or("");
    let mut child: Child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("stateplane-postgres-watchdog")
        .arg(work)
        .arg(data)
        .arg(bin)
        .arg(user_name)
        .arg(keep)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2)
        // Own process group: a Ctrl-C aimed at `cargo test` must not kill the watchdog first.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the PostgreSQL watchdog (sh): {e}"))?;
    child
        .stdin
        .take()
        .ok_or_else(|| "watchdog has no stdin pipe".to_owned())
}

/// Runs a command with a deadline; returns its stdout, or an error with its stderr.
fn run(mut cmd: Command, timeout: Duration) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    // Read both pipes on threads so a chatty command can never block on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err = std::thread::spawn(move || read_all(stderr.as_mut()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for {shown}: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{shown} failed ({status}): {}", err.trim()))
    }
}

fn read_all(r: Option<&mut impl std::io::Read>) -> String {
    let mut s = String::new();
    if let Some(r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// `url` with its database (the path) replaced by `db`; query parameters kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // The path starts at the first '/' after "scheme://authority".
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_everything_but_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "t1"), "postgresql://h/t1");
    }
}
