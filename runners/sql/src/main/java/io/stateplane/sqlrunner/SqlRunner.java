package io.stateplane.sqlrunner;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.api.internal.TableEnvironmentInternal;
import org.apache.flink.table.delegation.Parser;
import org.apache.flink.table.operations.BeginStatementSetOperation;
import org.apache.flink.table.operations.CompileAndExecutePlanOperation;
import org.apache.flink.table.operations.EndStatementSetOperation;
import org.apache.flink.table.operations.ModifyOperation;
import org.apache.flink.table.operations.Operation;
import org.apache.flink.table.operations.QueryOperation;
import org.apache.flink.table.operations.StatementSetOperation;
import org.apache.flink.table.operations.command.ExecutePlanOperation;
import org.apache.flink.table.operations.command.ResetOperation;
import org.apache.flink.table.operations.command.SetOperation;

/**
 * Runs a SQL script as one Flink job: the program stateplane submits with {@code /jars/{id}/run}
 * (and {@code /jars/{id}/plan}) for a deployment whose artifact is a SQL script.
 *
 * <p>Why a jar: a session cluster's REST API runs jars, not SQL; going through a jar keeps the
 * fixed {@code jobId}, {@code savepointPath}, {@code allowNonRestoredState}, the claim mode and
 * the per-job {@code flinkConfiguration} working exactly as for any other jar.
 *
 * <p>What it guarantees: statements run in script order; SET/RESET change the table
 * configuration for the statements after them; DDL and other statements are executed as they
 * come; every INSERT (also those in {@code EXECUTE STATEMENT SET BEGIN ... END} or between the SQL
 * client's {@code BEGIN STATEMENT SET;} and {@code END;}) is collected and submitted together at
 * the end, so one script is always exactly one Flink job (a detached jar run allows only one). A
 * script without an INSERT, or with a query that would run as a job of its own (a bare SELECT), is
 * refused before anything is submitted, and so are EXECUTE PLAN and COMPILE AND EXECUTE PLAN
 * (jobs of their own too). Every failure is a {@link SqlScriptException} whose
 * message names the statement and its line and column in the script, followed by Flink's own
 * message; because each statement is handed to Flink padded to its place in the script
 * ({@link ScriptSplitter.Statement#positionedText()}), the positions inside Flink's message are
 * script positions too.
 *
 * <p>Arguments (given as {@code programArgsList}):
 *
 * <ul>
 *   <li>{@code --script-base64 B64}: the script, UTF-8, in standard base64 (whitespace ignored).
 *       The form stateplane uses: it survives any transport unchanged.
 *   <li>{@code --script TEXT}: the script as it is (handy by hand).
 *   <li>{@code --jar URI} (any number): a jar (UDFs, connectors) to add before the script runs,
 *       as {@code ADD JAR} would; see {@link #addJar}.
 * </ul>
 *
 * <p>Compiled with {@code --release 11} against Flink 1.20 and checked to produce the identical
 * class files against Flink 2.3 ({@code scripts/flink-local.sh sql-runner-jar --check}), so one jar
 * links against both. It uses Flink's internal parser interface (as Flink's SQL client does) to
 * tell an INSERT from DDL; that interface is the same in 1.20 and 2.3.
 */
public final class SqlRunner {

    private SqlRunner() {}

    private static final Pattern REPEATED_SENTENCE = Pattern.compile("([A-Z][^.\\n]{3,}\\. )\\1+");

    private static final Pattern RUNTIME_MODE_SET =
            Pattern.compile("SET\\s+'execution\\.runtime-mode'\\s*=\\s*'([^']*)'", Pattern.CASE_INSENSITIVE);

    static final String USAGE = "usage: (--script-base64 B64 | --script TEXT) [--jar URI]...";

    public static void main(String[] args) throws Exception {
        Arguments arguments = Arguments.parse(args);
        List<ScriptSplitter.Statement> statements;
        try {
            statements = ScriptSplitter.split(arguments.script);
        } catch (ScriptSplitter.SplitException e) {
            throw new SqlScriptException(e.getMessage(), e);
        }
        if (statements.isEmpty()) {
            throw new SqlScriptException("the script has no statements");
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        applyRuntimeMode(statements, env);
        TableEnvironmentInternal tableEnv = (TableEnvironmentInternal) StreamTableEnvironment.create(env);
        Parser parser = tableEnv.getParser();
        Set<String> keysSet = new LinkedHashSet<>();
        for (String jar : arguments.jars) {
            addJar(jar, tableEnv, parser);
        }

        List<ModifyOperation> inserts = new ArrayList<>();
        List<ScriptSplitter.Statement> insertStatements = new ArrayList<>(); // one per insert
        for (ScriptSplitter.Statement statement : statements) {
            try {
                for (Operation op : parser.parse(statement.positionedText())) {
                    if (op instanceof ModifyOperation) {
                        inserts.add((ModifyOperation) op);
                        insertStatements.add(statement);
                    } else if (op instanceof StatementSetOperation) {
                        for (ModifyOperation m : ((StatementSetOperation) op).getOperations()) {
                            inserts.add(m);
                            insertStatements.add(statement);
                        }
                    } else if (op instanceof BeginStatementSetOperation
                            || op instanceof EndStatementSetOperation) {
                        // All INSERTs form one statement set anyway.
                    } else if (op instanceof SetOperation) {
                        set((SetOperation) op, tableEnv, keysSet);
                    } else if (op instanceof ResetOperation) {
                        reset((ResetOperation) op, tableEnv, keysSet);
                    } else if (op instanceof QueryOperation) {
                        throw new SqlScriptException(
                                describe(statement)
                                        + ": a query without INSERT INTO would run as a job of its own;"
                                        + " write INSERT INTO <table> SELECT ...");
                    } else if (op instanceof ExecutePlanOperation
                            || op instanceof CompileAndExecutePlanOperation) {
                        throw new SqlScriptException(
                                describe(statement)
                                        + ": EXECUTE PLAN and COMPILE AND EXECUTE PLAN run a job of their own;"
                                        + " a script runs its INSERT statements as its one job");
                    } else {
                        tableEnv.executeInternal(op);
                    }
                }
            } catch (SqlScriptException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new SqlScriptException(describe(statement) + ": " + messages(e), e);
            }
        }
        if (inserts.isEmpty()) {
            throw new SqlScriptException(
                    "the script has no INSERT INTO statement: nothing would run");
        }
        try {
            tableEnv.executeInternal(inserts);
        } catch (RuntimeException e) {
            throw blame(tableEnv, inserts, insertStatements, e);
        }
    }

    /**
     * Sinks are created, and the whole job optimised and submitted, only when the INSERTs are
     * translated together, so an unknown sink connector surfaces here without a statement.
     * Explaining each INSERT alone (only on this error path) finds the one to name; when each is
     * fine alone, the job as a whole failed (to plan the INSERTs together, or to start: a
     * savepoint that does not fit, for instance) and all of them are named.
     */
    private static SqlScriptException blame(
            TableEnvironmentInternal tableEnv,
            List<ModifyOperation> inserts,
            List<ScriptSplitter.Statement> statements,
            RuntimeException failure) {
        for (int i = 0; i < inserts.size(); i++) {
            try {
                tableEnv.explainInternal(List.<Operation>of(inserts.get(i)));
            } catch (RuntimeException e) {
                return new SqlScriptException(describe(statements.get(i)) + ": " + messages(e), failure);
            }
        }
        StringJoiner lines = new StringJoiner(", ");
        int distinct = 0;
        ScriptSplitter.Statement previous = null;
        for (ScriptSplitter.Statement s : statements) {
            if (s != previous) {
                lines.add(Integer.toString(s.line));
                distinct++;
            }
            previous = s;
        }
        return new SqlScriptException(
                (distinct == 1 ? "the job of the INSERT statement (line " : "the job of the INSERT statements (lines ")
                        + lines + ") failed: " + messages(failure),
                failure);
    }

    /**
     * The table environment fixes its planner (streaming or batch) when it is created and refuses
     * a later {@code SET 'execution.runtime-mode'}; the SQL client accepts one at the top of a
     * script, so the runner does too: the first such SET decides the mode the environment is
     * created in (later changes are still refused by Flink, with its own message).
     */
    private static void applyRuntimeMode(
            List<ScriptSplitter.Statement> statements, StreamExecutionEnvironment env)
            throws SqlScriptException {
        for (ScriptSplitter.Statement statement : statements) {
            Matcher m = RUNTIME_MODE_SET.matcher(statement.text);
            if (m.matches()) {
                try {
                    env.setRuntimeMode(RuntimeExecutionMode.valueOf(m.group(1).toUpperCase(Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    throw new SqlScriptException(
                            describe(statement) + ": execution.runtime-mode is one of streaming, batch, automatic",
                            e);
                }
                return;
            }
        }
    }

    /**
     * What the script's {@code ADD JAR} does, without changing the script (its line numbers stay
     * the user's): the jar joins the class loader of the statements that follow and is shipped
     * with the job through the JobManager's blob server, so only the JobManager (where this main
     * runs) has to read the URI: a {@code file:} path on it (a jar uploaded with
     * {@code /jars/upload} is one) or any scheme of Flink's file systems ({@code s3:} with the
     * plugin, ...), not {@code http:}.
     */
    private static void addJar(String uri, TableEnvironmentInternal tableEnv, Parser parser)
            throws SqlScriptException {
        try {
            for (Operation op : parser.parse("ADD JAR '" + uri.replace("'", "''") + "'")) {
                tableEnv.executeInternal(op);
            }
        } catch (RuntimeException e) {
            throw new SqlScriptException("--jar " + uri + ": " + messages(e), e);
        }
    }

    /**
     * SET 'key' = 'value' changes the table configuration, which Flink layers over the job's
     * (cluster + {@code flinkConfiguration}) for planning and for the job it submits; a bare SET
     * (which lists the configuration in the SQL client) does nothing here.
     */
    private static void set(SetOperation op, TableEnvironmentInternal tableEnv, Set<String> keysSet) {
        if (op.getKey().isPresent() && op.getValue().isPresent()) {
            tableEnv.getConfig().set(op.getKey().get(), op.getValue().get());
            keysSet.add(op.getKey().get());
        }
    }

    /** RESET 'key' drops the script's value for the key, RESET all of the script's values. */
    private static void reset(ResetOperation op, TableEnvironmentInternal tableEnv, Set<String> keysSet) {
        if (op.getKey().isPresent()) {
            tableEnv.getConfig().getConfiguration().removeKey(op.getKey().get());
            keysSet.remove(op.getKey().get());
        } else {
            for (String key : keysSet) {
                tableEnv.getConfig().getConfiguration().removeKey(key);
            }
            keysSet.clear();
        }
    }

    /** What the arguments say: the script and the jars to add before it. */
    static final class Arguments {
        final String script;
        final List<String> jars;

        private Arguments(String script, List<String> jars) {
            this.script = script;
            this.jars = jars;
        }

        /** Exactly one of the two script forms, any number of {@code --jar}. */
        static Arguments parse(String[] args) throws SqlScriptException {
            String script = null;
            List<String> jars = new ArrayList<>();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if ((a.equals("--script") || a.equals("--script-base64")) && i + 1 < args.length) {
                    if (script != null) {
                        throw new SqlScriptException("the script is given twice; " + USAGE);
                    }
                    String value = args[++i];
                    script = a.equals("--script") ? value : decodeBase64(value);
                } else if (a.equals("--jar") && i + 1 < args.length) {
                    jars.add(args[++i]);
                } else {
                    throw new SqlScriptException("unexpected argument '" + a + "'; " + USAGE);
                }
            }
            if (script == null) {
                throw new SqlScriptException("no script given; " + USAGE);
            }
            return new Arguments(script, jars);
        }
    }

    private static String decodeBase64(String value) throws SqlScriptException {
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(value.replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw new SqlScriptException("--script-base64 is not base64: " + e.getMessage(), e);
        }
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SqlScriptException("--script-base64 does not decode to UTF-8 text", e);
        }
    }

    private static String describe(ScriptSplitter.Statement s) {
        return "statement " + s.index + " (line " + s.line + ", column " + s.column + ": "
                + s.excerpt() + ")";
    }

    /**
     * The messages of the cause chain, each once: Flink often repeats a cause's message in its
     * wrapper, and the root (Calcite's "Object 'x' not found") is what a user needs.
     */
    static String messages(Throwable e) {
        StringBuilder b = new StringBuilder();
        String previous = "";
        int depth = 0; // a cause chain can be made cyclic; Flink's are far shorter than this
        for (Throwable t = e; t != null && depth < 32; t = t.getCause(), depth++) {
            String m = t.getMessage();
            if (m == null || m.isBlank()) {
                m = t.getClass().getName();
            } else if (t.getClass().getName().startsWith("java.") && !m.strip().contains(" ")) {
                // A bare "io.example.Udf" (ClassNotFoundException) or path does not say what
                // is wrong with it.
                m = t.getClass().getSimpleName() + ": " + m;
            }
            // Flink sometimes says a sentence twice ("SQL validation failed. SQL validation
            // failed. From line 4, ..."): once is enough.
            m = REPEATED_SENTENCE.matcher(m.strip()).replaceAll("$1");
            if (previous.contains(m)) {
                continue;
            }
            if (b.length() > 0) {
                b.append("\nCaused by: ");
            }
            b.append(m);
            previous = m;
        }
        return b.toString();
    }
}
