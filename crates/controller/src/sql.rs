//! SQL deployments (`artifact.kind: SQLSCRIPT`): the program a SQL script runs as.
//!
//! A script runs as a job of stateplane's SQL runner (`runners/sql`: a small Java program that
//! executes the script with Flink's Table API, all its INSERTs as one statement set), submitted with
//! `/jars/{jar}/run` like any jar. So the fixed job id, savepoints, suspend/resume, restore strategies,
//! the crash protocol and the upgrade preflight hold for SQL exactly as for jars.
//!
//! - The runner's jar is built reproducibly and committed (`scripts/flink-local.sh sql-runner-jar
//!   --check` proves the bytes match the source), and embedded in this binary: a user with only the
//!   `stateplane` binary runs SQL. It is uploaded to a cluster once, under a name carrying its content
//!   hash (`stateplane-sql-runner-<sha256[..12]>.jar`, visible in `GET /jars`).
//! - The script travels as `--script-base64` (exactly the bytes given, whatever quotes, newlines or
//!   non-ASCII characters it holds).
//! - Each of `additionalDependencies` is uploaded with `/jars/upload` (once per content) and passed as
//!   `--jar file://<its path on the JobManager>`: the runner adds it to the job's class loader before
//!   the script runs, and Flink ships it to the TaskManagers with the job (its blob server). A session
//!   cluster needs nothing for that beyond its REST API.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::artifacts::Jar;

/// The runner's jar (`runners/sql/sql-runner.jar`, see the module docs).
const RUNNER_JAR: &[u8] = include_bytes!("../../../runners/sql/sql-runner.jar");

/// The runner's jar with its content-hash name.
pub(crate) fn runner_jar() -> Jar {
    let sha256 = format!("{:x}", Sha256::digest(RUNNER_JAR));
    Jar {
        file_name: format!("stateplane-sql-runner-{}.jar", &sha256[..12]),
        bytes: RUNNER_JAR.to_vec(),
        sha256,
    }
}

/// The runner's program arguments: each dependency's JobManager path as `--jar`, then the script.
pub(crate) fn runner_args(script: &str, dependency_paths: &[String]) -> Vec<String> {
    let mut args = Vec::with_capacity(dependency_paths.len() * 2 + 2);
    for path in dependency_paths {
        args.push("--jar".to_string());
        args.push(format!("file://{path}"));
    }
    args.push("--script-base64".to_string());
    args.push(base64::engine::general_purpose::STANDARD.encode(script.as_bytes()));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_runner_is_a_jar_whose_manifest_names_the_runner() {
        let jar = runner_jar();
        assert!(jar.bytes.starts_with(b"PK\x03\x04"), "not a zip");
        // The jar is stored uncompressed (reproducible build), so the manifest is readable as is.
        let text = String::from_utf8_lossy(&jar.bytes);
        assert!(
            text.contains("Main-Class: io.stateplane.sqlrunner.SqlRunner"),
            "no Main-Class in the manifest"
        );
        assert!(jar.file_name.starts_with("stateplane-sql-runner-"));
        assert!(jar.file_name.ends_with(".jar"));
        assert_eq!(jar.sha256.len(), 64);
    }

    #[test]
    fn the_script_round_trips_and_dependencies_come_first() {
        let script = "SET 'a' = 'ä;\"';\nINSERT INTO t SELECT 1;";
        let args = runner_args(script, &["/tmp/up/x_udf.jar".into()]);
        assert_eq!(
            args[..3],
            ["--jar", "file:///tmp/up/x_udf.jar", "--script-base64"]
        );
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&args[3])
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), script);
    }
}
