package io.stateplane.sqlrunner;

/**
 * Why a SQL script cannot run, in words a user can act on.
 *
 * <p>Its own class so that whoever reads Flink's REST error (one string holding the whole stack
 * trace) finds the message after {@code io.stateplane.sqlrunner.SqlScriptException: } and up to
 * the first {@code \n\tat } line, whatever Flink wrapped around it.
 */
public final class SqlScriptException extends Exception {
    private static final long serialVersionUID = 1L;

    SqlScriptException(String message) {
        super(message);
    }

    SqlScriptException(String message, Throwable cause) {
        super(message, cause);
    }
}
