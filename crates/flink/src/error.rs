//! The one error type of the Flink client, and the reduction of Java stack traces to one line.
//!
//! Why: Flink answers errors as `{"errors": ["<whole Java stack trace>"]}` and reports failed
//! savepoints as a serialized throwable. Users of stateplane need the *reason* ("Cannot find
//! checkpoint or savepoint file/directory ..."), not 200 lines of Pekko frames. Every message that
//! leaves this crate has been through [`root_cause`], so `Display` never prints a stack trace.

use std::path::PathBuf;
use std::time::Duration;

use crate::ids::FlinkJobId;

/// Longest root cause kept, in characters; a longer message is cut with an ellipsis.
const MAX_ROOT_CAUSE_CHARS: usize = 500;

/// Everything that can go wrong talking to Flink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlinkError {
    /// Flink did not answer within the client's per-call timeout. Flink may still have acted on the
    /// request; repeat it only with client-chosen ids (job id, trigger id).
    #[error("Flink did not answer {operation} within {after:?}")]
    Timeout {
        /// The call, e.g. `POST /jobs/<id>/savepoints`.
        operation: String,
        /// The timeout that expired.
        after: Duration,
    },

    /// Flink could not be reached (connection refused, reset, DNS, TLS): the cluster is down,
    /// starting, or the URL is wrong.
    #[error("cannot reach Flink for {operation}: {message}")]
    Connect {
        /// The call, e.g. `GET /overview`.
        operation: String,
        /// The transport error, one line.
        message: String,
    },

    /// Flink does not know the job, jar, savepoint trigger or disposal named (HTTP 404). For a job
    /// this also happens after a JobManager restart without HA; for a trigger, after the operation
    /// result expired (`rest.async.store-duration`, 5 min by default).
    #[error("not found in Flink: {resource}")]
    NotFound {
        /// What was looked up, e.g. `job 3e6c...` or `savepoint trigger aa.. of job 3e6c...`.
        resource: String,
    },

    /// Cancel was refused because the job already reached another terminal state (FINISHED,
    /// FAILED); the job is not running, which is usually what the caller wanted.
    #[error("job {job} already reached a terminal state: {root_cause}")]
    AlreadyTerminal {
        /// The job that was to be cancelled.
        job: FlinkJobId,
        /// Flink's one-line explanation, naming the state.
        root_cause: String,
    },

    /// Flink refused or failed the request; `root_cause` is the one-line reason extracted from
    /// Flink's stack trace (see [`root_cause`]).
    #[error("Flink refused the request (HTTP {status}): {root_cause}")]
    Api {
        /// HTTP status code Flink answered.
        status: u16,
        /// Flink's reason, one line.
        root_cause: String,
    },

    /// Flink answered with a body this client cannot understand (a Flink version mismatch or a
    /// proxy in between).
    #[error("cannot understand Flink's answer to {operation}: {message}")]
    Decode {
        /// The call whose answer was not understood.
        operation: String,
        /// What did not match, one line.
        message: String,
    },

    /// The REST URL given to [`crate::FlinkClient::new`] is not an absolute http(s) URL.
    #[error("invalid Flink REST URL '{url}': {reason}")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A local jar file given to [`crate::FlinkClient::upload_jar`] could not be read.
    #[error("cannot read jar file {}: {message}", path.display())]
    JarFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
}

impl FlinkError {
    /// Whether the same call may succeed if simply repeated later: Flink was unreachable, slow, or
    /// answered 429/502/503/504 (e.g. no leader yet). A plain 500 is not retryable: Flink uses it for
    /// deterministic failures too. Repeating a non-idempotent call (a run without a job id, a
    /// savepoint without a trigger id) after a timeout may do the work twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            FlinkError::Timeout { .. } | FlinkError::Connect { .. } => true,
            FlinkError::Api { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            FlinkError::NotFound { .. }
            | FlinkError::AlreadyTerminal { .. }
            | FlinkError::Decode { .. }
            | FlinkError::InvalidUrl { .. }
            | FlinkError::JarFile { .. } => false,
        }
    }

    /// Whether Flink refused a submission because it already has a job with the requested id: the
    /// repeat of an earlier submission that got through ("... has already been submitted.").
    pub fn is_duplicate_submission(&self) -> bool {
        matches!(self, FlinkError::Api { root_cause, .. } if root_cause.contains("already been submitted"))
    }

    /// Whether Flink refused a submission of stateplane's SQL runner because a statement of the script
    /// does not parse, validate or resolve as written: the runner names it
    /// `statement N (line L, column C: …): <Flink's message>`. Submitting the same script again cannot
    /// succeed. (A failure of the script's job itself, e.g. a restore, is named differently.)
    pub fn is_script_statement_error(&self) -> bool {
        matches!(self, FlinkError::Api { root_cause, .. } if names_a_statement(root_cause))
    }

    /// Whether this is [`FlinkError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, FlinkError::NotFound { .. })
    }
}

/// Reduces a Java stack trace (or several, as in Flink's `errors` array joined by newlines) to one
/// line: the message of the last `Caused by:` exception, or of the first exception line when there
/// is no `Caused by:`. Class-name prefixes (`java.io.FileNotFoundException: `) are stripped; an
/// exception without a message becomes its simple class name. At most 500 characters.
pub fn root_cause(trace: &str) -> String {
    if let Some(message) = script_error(trace) {
        return truncate_chars(&message, MAX_ROOT_CAUSE_CHARS);
    }
    let lines: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("at ") && !l.starts_with("..."))
        .collect();
    let chosen = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("Caused by:"))
        .map(str::trim)
        .or_else(|| lines.iter().copied().find(|l| starts_with_class_name(l)))
        .or_else(|| lines.iter().copied().find(|l| !is_wrapper_noise(l)))
        .unwrap_or("");
    let message = strip_exception_prefixes(chosen);
    let message = if message.is_empty() {
        "unknown error (Flink sent no message)".to_owned()
    } else {
        message
    };
    truncate_chars(&message, MAX_ROOT_CAUSE_CHARS)
}

/// The exception stateplane's SQL runner (`runners/sql`) throws for a script it cannot run. Its message
/// is the user's error with the statement's line and column; the causes below it are Flink's detail.
const SCRIPT_EXCEPTION: &str = "io.stateplane.sqlrunner.SqlScriptException: ";

/// The SQL runner's message in a trace: the text after the first [`SCRIPT_EXCEPTION`] up to its first
/// stack frame, white space (the message's own line breaks included) collapsed to single spaces.
fn script_error(trace: &str) -> Option<String> {
    let (_, rest) = trace.split_once(SCRIPT_EXCEPTION)?;
    let message = rest.split("\n\tat ").next().unwrap_or(rest);
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    (!message.is_empty()).then_some(message)
}

/// `statement 4 (line 5, column 1: …`: the SQL runner's message for a statement it could not run.
fn names_a_statement(message: &str) -> bool {
    fn number(s: &str) -> Option<&str> {
        let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
        (rest.len() < s.len()).then_some(rest)
    }
    message
        .strip_prefix("statement ")
        .and_then(number)
        .and_then(|s| s.strip_prefix(" (line "))
        .and_then(number)
        .and_then(|s| s.strip_prefix(", column "))
        .and_then(number)
        .is_some()
}

/// Lines Flink wraps server-side exceptions in, never the reason itself.
fn is_wrapper_noise(line: &str) -> bool {
    line == "<Exception on server side:" || line == "End of exception on server side>"
}

/// `a.b.C` or `a.b.C$D`: at least one dot, Java identifier characters only.
fn is_java_class_name(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '_' || c == '$')
}

fn starts_with_class_name(line: &str) -> bool {
    let head = line.split_once(':').map_or(line, |(h, _)| h);
    is_java_class_name(head)
}

/// `java.util.concurrent.CompletionException: java.io.IOException: disk full` -> `disk full`;
/// `java.lang.NullPointerException` -> `NullPointerException`.
fn strip_exception_prefixes(line: &str) -> String {
    let mut rest = line.trim();
    let mut last_class = None;
    loop {
        if is_java_class_name(rest) {
            last_class = Some(rest);
            rest = "";
            break;
        }
        match rest.split_once(": ") {
            Some((head, tail)) if is_java_class_name(head) => {
                last_class = Some(head);
                rest = tail.trim();
            }
            _ => break,
        }
    }
    if rest.is_empty() {
        last_class
            .and_then(|c| c.rsplit('.').next())
            .unwrap_or("")
            .to_owned()
    } else {
        rest.to_owned()
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// One line describing an error body Flink sent: the root cause of its `errors` array, or the body
/// itself (reduced the same way) when it is not Flink's error JSON.
pub(crate) fn root_cause_of_error_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        errors: Vec<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if !e.errors.is_empty() => root_cause(&e.errors.join("\n")),
        _ => {
            let text = String::from_utf8_lossy(body);
            if text.trim().is_empty() {
                "empty response body".to_owned()
            } else {
                root_cause(&text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOGUS_SAVEPOINT: &str = include_str!("../testdata/run-bogus-savepoint.json");
    const UNKNOWN_JOB: &str = include_str!("../testdata/job-not-found.json");
    const CANCEL_FINISHED: &str = include_str!("../testdata/cancel-finished.json");
    const DUPLICATE_JOB_ID: &str = include_str!("../testdata/run-duplicate-job-id.json");
    const PLAN_SQL_UNKNOWN_TABLE: &str = include_str!("../testdata/plan-sql-unknown-table.json");
    const RUN_SQL_SYNTAX_ERROR: &str = include_str!("../testdata/run-sql-syntax-error.json");

    #[test]
    fn sql_runner_errors_reduce_to_the_runners_message_with_line_and_column() {
        assert_eq!(
            root_cause_of_error_body(PLAN_SQL_UNKNOWN_TABLE.as_bytes()),
            "statement 3 (line 3, column 1: INSERT INTO snk …): SQL validation failed. From line 4, \
             column 17 to line 4, column 20: Object 'nope' not found"
        );
        let syntax = root_cause_of_error_body(RUN_SQL_SYNTAX_ERROR.as_bytes());
        assert!(
            syntax.starts_with(
                "statement 3 (line 4, column 1: INSERT INTO snk …): SQL parse failed. \
                 Encountered \"src\" at line 5, column 18. Was expecting one of: <EOF>"
            ),
            "{syntax}"
        );
        assert!(!syntax.contains("\tat "), "{syntax}");
        assert_eq!(script_error("java.io.IOException: disk full"), None);
    }
    const FAILED_JOB_EXCEPTIONS: &str = include_str!("../testdata/job-exceptions-failed.json");

    #[test]
    fn a_script_statement_error_is_told_from_other_refusals() {
        let api = |body: &str| FlinkError::Api {
            status: 400,
            root_cause: root_cause_of_error_body(body.as_bytes()),
        };
        assert!(api(RUN_SQL_SYNTAX_ERROR).is_script_statement_error());
        assert!(api(PLAN_SQL_UNKNOWN_TABLE).is_script_statement_error());
        assert!(!api(BOGUS_SAVEPOINT).is_script_statement_error());
        for (cause, expected) in [
            ("statement 12 (line 140, column 3: X): boom", true),
            (
                "the job of the INSERT statement (line 17) failed: Failed to rollback",
                false,
            ),
            ("statement x (line 1, column 1: X)", false),
            ("statement 1 (line 1)", false),
        ] {
            let e = FlinkError::Api {
                status: 400,
                root_cause: cause.into(),
            };
            assert_eq!(e.is_script_statement_error(), expected, "{cause}");
        }
        let timeout = FlinkError::Timeout {
            operation: "statement 1 (line 1, column 1".into(),
            after: Duration::from_secs(1),
        };
        assert!(!timeout.is_script_statement_error());
    }

    #[test]
    fn bogus_savepoint_run_reduces_to_flink_reason() {
        let cause = root_cause_of_error_body(BOGUS_SAVEPOINT.as_bytes());
        assert!(
            cause.starts_with("Cannot find checkpoint or savepoint file/directory"),
            "{cause}"
        );
        assert!(!cause.contains('\n') && !cause.contains("\tat "), "{cause}");
    }

    #[test]
    fn not_found_takes_the_last_caused_by() {
        let cause = root_cause_of_error_body(UNKNOWN_JOB.as_bytes());
        assert_eq!(
            cause,
            "Could not find Flink job (0123456789abcdef0123456789abcdef)"
        );
    }

    #[test]
    fn without_caused_by_the_first_exception_line_is_used() {
        let cause = root_cause_of_error_body(CANCEL_FINISHED.as_bytes());
        assert_eq!(
            cause,
            "Job cancellation failed because the job has already reached another terminal state (FINISHED)."
        );
    }

    #[test]
    fn duplicate_job_id_reason_is_one_line() {
        let cause = root_cause_of_error_body(DUPLICATE_JOB_ID.as_bytes());
        assert!(!cause.contains('\n'), "{cause}");
        assert!(cause.to_lowercase().contains("already"), "{cause}");
    }

    #[test]
    fn job_failure_trace_reduces_to_user_exception() {
        let v: serde_json::Value = serde_json::from_str(FAILED_JOB_EXCEPTIONS).unwrap();
        let trace = v["exceptionHistory"]["entries"][0]["stacktrace"]
            .as_str()
            .unwrap();
        assert_eq!(
            root_cause(trace),
            "deliberate failure after 5 records (--fail-after)"
        );
    }

    #[test]
    fn nested_prefixes_and_bare_exceptions() {
        assert_eq!(
            root_cause("java.util.concurrent.CompletionException: java.io.IOException: disk full\n\tat x.y(Z.java:1)"),
            "disk full"
        );
        assert_eq!(
            root_cause("java.lang.NullPointerException\n\tat a.b.C.d(C.java:3)"),
            "NullPointerException"
        );
        assert_eq!(
            root_cause("a.B: outer\n\tat q.r(S.java:1)\nCaused by: a.C: middle\n\t... 3 more\nCaused by: a.D$E: inner: with colon"),
            "inner: with colon"
        );
        assert_eq!(
            root_cause("Not found: /jobs/x/nope"),
            "Not found: /jobs/x/nope"
        );
        assert_eq!(
            root_cause("Internal server error.\n<Exception on server side:\norg.apache.flink.X: boom\n\tat a.b(C.java:1)\nEnd of exception on server side>"),
            "boom"
        );
        assert_eq!(root_cause(""), "unknown error (Flink sent no message)");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = format!("a.B: {}", "x".repeat(2000));
        let cause = root_cause(&long);
        assert_eq!(cause.chars().count(), MAX_ROOT_CAUSE_CHARS + 1);
        assert!(cause.ends_with('…'));
    }

    #[test]
    fn non_json_error_bodies_are_reduced_too() {
        assert_eq!(
            root_cause_of_error_body(b"<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(root_cause_of_error_body(b""), "empty response body");
    }

    #[test]
    fn display_never_contains_a_stack_trace() {
        let err = FlinkError::Api {
            status: 400,
            root_cause: root_cause_of_error_body(BOGUS_SAVEPOINT.as_bytes()),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("Flink refused the request (HTTP 400): Cannot find checkpoint"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn retryable_classification() {
        let op = || "GET /overview".to_owned();
        assert!(FlinkError::Timeout {
            operation: op(),
            after: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(FlinkError::Connect {
            operation: op(),
            message: "refused".into()
        }
        .is_retryable());
        assert!(FlinkError::Api {
            status: 503,
            root_cause: "no leader".into()
        }
        .is_retryable());
        assert!(!FlinkError::Api {
            status: 500,
            root_cause: "boom".into()
        }
        .is_retryable());
        assert!(!FlinkError::Api {
            status: 400,
            root_cause: "bad".into()
        }
        .is_retryable());
        assert!(!FlinkError::NotFound {
            resource: "job x".into()
        }
        .is_retryable());
        assert!(!FlinkError::Decode {
            operation: op(),
            message: "x".into()
        }
        .is_retryable());
    }
}
