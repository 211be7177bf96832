package io.stateplane.sqlrunner;

import java.util.ArrayList;
import java.util.List;

/**
 * Table tests of {@link ScriptSplitter} and of the runner's argument handling, runnable with
 * plain {@code java} (no test framework on the machine): {@code scripts/flink-local.sh
 * sql-runner-jar --check} compiles and runs it. Exits non-zero on the first failed case.
 */
public final class ScriptSplitterTest {

    private ScriptSplitterTest() {}

    private static int cases;

    public static void main(String[] args) throws Exception {
        splitsAtTopLevelSemicolons();
        semicolonsInQuotesAndCommentsDoNotSplit();
        executeStatementSetIsOneStatement();
        positionsAreScriptPositions();
        commentOnlyAndEmptyStatementsAreDropped();
        unterminatedQuotesAndCommentsAreErrors();
        argumentsAndBase64();
        causeChainMessages();
        System.out.println("ScriptSplitterTest: " + cases + " cases passed");
    }

    static void splitsAtTopLevelSemicolons() throws Exception {
        expect("CREATE TABLE a (x INT);INSERT INTO b SELECT * FROM a",
                "CREATE TABLE a (x INT)", "INSERT INTO b SELECT * FROM a");
        expect("SET 'a' = 'b';\n\nRESET;\n", "SET 'a' = 'b'", "RESET");
        expect("  SELECT 1  ;  ", "SELECT 1");
    }

    static void semicolonsInQuotesAndCommentsDoNotSplit() throws Exception {
        expect("SELECT 'a;b' FROM t; SELECT 'it''s; fine'",
                "SELECT 'a;b' FROM t", "SELECT 'it''s; fine'");
        expect("SELECT `we;ird` , \"dq;x\" FROM t; X", "SELECT `we;ird` , \"dq;x\" FROM t", "X");
        expect("SELECT `a``;b` FROM t;Y", "SELECT `a``;b` FROM t", "Y");
        expect("SELECT 1 -- one; two\n, 2; Z", "SELECT 1 -- one; two\n, 2", "Z");
        expect("SELECT /*+ OPTIONS('a'=';') */ 1 /* ; */; Q", "SELECT /*+ OPTIONS('a'=';') */ 1 /* ; */", "Q");
        // A quote inside a comment and a comment marker inside a string are plain characters.
        expect("-- it's\nA; B '--'; C '/*'; D", "A", "B '--'", "C '/*'", "D");
        expect("SELECT 'multi\nline;' ; E", "SELECT 'multi\nline;'", "E");
        expect("SELECT a-b, c/d, e*f FROM t; F", "SELECT a-b, c/d, e*f FROM t", "F");
    }

    static void executeStatementSetIsOneStatement() throws Exception {
        String block = "EXECUTE STATEMENT SET\nBEGIN\n  INSERT INTO a SELECT 1;\n  INSERT INTO b SELECT 'END;';\nEND";
        expect(block + ";\nCREATE TABLE c (x INT);", block, "CREATE TABLE c (x INT)");
        String lower = "execute /* c */ statement set begin insert into a select 1; end";
        expect(lower + "; g", lower, "g");
        // The SQL client's form: separate statements, which the runner treats as markers.
        expect("BEGIN STATEMENT SET; INSERT INTO a SELECT 1; END;",
                "BEGIN STATEMENT SET", "INSERT INTO a SELECT 1", "END");
        // An unterminated block runs to the end of the script (Flink then reports <EOF>).
        expect("EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1;",
                "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1;");
    }

    static void positionsAreScriptPositions() throws Exception {
        List<ScriptSplitter.Statement> s =
                ScriptSplitter.split("-- header\nCREATE TABLE a (x INT);\n\t  /* c */ INSERT INTO b\r\nSELECT 1;  X");
        check(s.size() == 3, "three statements, got " + s.size());
        at(s.get(0), 1, 2, 1);
        at(s.get(1), 2, 3, 12);
        at(s.get(2), 3, 4, 12);
        check(s.get(1).positionedText().equals("\n\n\t          INSERT INTO b\r\nSELECT 1"),
                "positioned text keeps tabs and pads the rest: [" + s.get(1).positionedText() + "]");
        check(s.get(0).positionedText().equals("\nCREATE TABLE a (x INT)"), "first statement padded");
        check(ScriptSplitter.split("é; ü").get(1).column == 4, "columns count UTF-16 chars");
        check(s.get(1).excerpt().equals("INSERT INTO b …"), "excerpt: " + s.get(1).excerpt());
    }

    static void commentOnlyAndEmptyStatementsAreDropped() throws Exception {
        expect("");
        expect(" ;; \n ; -- nothing\n; /* none */");
        expect("A;;B", "A", "B");
        expect("A; -- trailing comment", "A");
    }

    static void unterminatedQuotesAndCommentsAreErrors() throws Exception {
        fails("SELECT 'abc", "unterminated string literal (line 1, column 8)");
        fails("A;\nSELECT `abc", "unterminated quoted identifier (line 2, column 8)");
        fails("A;\n\n  /* open", "unterminated comment (line 3, column 3)");
        fails("SELECT 'it''s", "unterminated string literal (line 1, column 8)");
    }

    static void argumentsAndBase64() throws Exception {
        String script = "INSERT INTO t SELECT 'ä;\"\\n' -- x\n;";
        String b64 = java.util.Base64.getEncoder().encodeToString(script.getBytes("UTF-8"));
        check(SqlRunner.Arguments.parse(new String[] {"--script-base64", b64}).script.equals(script), "base64 round trip");
        String wrapped = b64.replaceAll("(.{8})", "$1\n");
        check(SqlRunner.Arguments.parse(new String[] {"--script-base64", wrapped}).script.equals(script),
                "base64 with line breaks");
        check(SqlRunner.Arguments.parse(new String[] {"--script", script}).script.equals(script), "plain script");
        SqlRunner.Arguments withJars =
                SqlRunner.Arguments.parse(new String[] {"--jar", "file:///a.jar", "--script", "X", "--jar", "s3://b/c.jar"});
        check(withJars.jars.equals(List.of("file:///a.jar", "s3://b/c.jar")) && withJars.script.equals("X"),
                "--jar in order, before and after the script: " + withJars.jars);
        argFails(new String[] {"--script", "X", "--jar"}, "unexpected argument '--jar'");
        argFails(new String[] {}, "no script given");
        argFails(new String[] {"--script"}, "unexpected argument '--script'");
        argFails(new String[] {"--script", "a", "--script-base64", b64}, "the script is given twice");
        argFails(new String[] {"--script-base64", "!!!"}, "--script-base64 is not base64");
        argFails(new String[] {"--script-base64", "/w=="}, "does not decode to UTF-8");
        argFails(new String[] {"--bogus", "x"}, "unexpected argument '--bogus'");
    }

    static void causeChainMessages() {
        Exception root = new IllegalStateException("Object 'nope' not found");
        Exception mid = new RuntimeException("From line 4, column 17 to line 4, column 20: Object 'nope' not found", root);
        Exception top = new RuntimeException("SQL validation failed. SQL validation failed. From line 4, column 17 to line 4, column 20: Object 'nope' not found", mid);
        check(SqlRunner.messages(top).equals(
                        "SQL validation failed. From line 4, column 17 to line 4, column 20: Object 'nope' not found"),
                "repeated sentence and contained causes dropped: " + SqlRunner.messages(top));
        Exception sink = new RuntimeException("Unable to create a sink.\n\nTable options are:", new RuntimeException("Cannot discover a connector"));
        check(SqlRunner.messages(sink).equals("Unable to create a sink.\n\nTable options are:\nCaused by: Cannot discover a connector"),
                "distinct causes kept: " + SqlRunner.messages(sink));
        check(SqlRunner.messages(new NullPointerException()).equals("java.lang.NullPointerException"),
                "a message-less exception is named by its class");
        Exception cnf = new RuntimeException("Could not register function.", new ClassNotFoundException("io.example.Udf"));
        check(SqlRunner.messages(cnf).equals("Could not register function.\nCaused by: ClassNotFoundException: io.example.Udf"),
                "a JDK exception keeps its class name: " + SqlRunner.messages(cnf));
    }

    private static void expect(String script, String... statements) throws Exception {
        List<String> got = new ArrayList<>();
        for (ScriptSplitter.Statement s : ScriptSplitter.split(script)) {
            got.add(s.text);
        }
        check(got.equals(List.of(statements)), "split(" + show(script) + ") = " + show(got));
    }

    private static void at(ScriptSplitter.Statement s, int index, int line, int column) {
        check(s.index == index && s.line == line && s.column == column,
                "statement " + show(s.text) + " at " + s.index + "/" + s.line + ":" + s.column
                        + ", expected " + index + "/" + line + ":" + column);
    }

    private static void fails(String script, String message) {
        try {
            ScriptSplitter.split(script);
        } catch (ScriptSplitter.SplitException e) {
            check(e.getMessage().equals(message), "error for " + show(script) + ": " + e.getMessage());
            return;
        }
        check(false, "no error for " + show(script));
    }

    private static void argFails(String[] args, String fragment) {
        try {
            SqlRunner.Arguments.parse(args);
        } catch (SqlScriptException e) {
            check(e.getMessage().contains(fragment), "error for " + show(List.of(args)) + ": " + e.getMessage());
            return;
        }
        check(false, "no error for " + show(List.of(args)));
    }

    private static void check(boolean ok, String what) {
        cases++;
        if (!ok) {
            System.err.println("ScriptSplitterTest FAILED: " + what);
            System.exit(1);
        }
    }

    private static String show(Object o) {
        return String.valueOf(o).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t");
    }
}
