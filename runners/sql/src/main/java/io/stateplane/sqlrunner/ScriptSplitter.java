package io.stateplane.sqlrunner;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Splits a SQL script into statements at the semicolons that end them.
 *
 * <p>Why not {@code script.split(";")}: a semicolon inside a string literal ({@code 'a;b'}, with
 * {@code ''} as the escaped quote), a quoted identifier ({@code `a;b`}, {@code "a;b"}), a line
 * comment ({@code -- a;b}) or a block comment or hint ({@code /* a;b *&#47;}) does not end a
 * statement, and neither do the semicolons between {@code EXECUTE STATEMENT SET BEGIN} and its
 * {@code END}, which Flink's parser takes as one statement.
 *
 * <p>Guarantees: every returned statement starts at its first character that is neither
 * whitespace nor part of a comment, and remembers that character's line and column (1-based, in
 * UTF-16 chars, lines ended by {@code \n}); {@link Statement#positionedText()} pads the text so
 * that a parser reporting positions relative to its input reports positions in the script.
 * Statements made only of whitespace and comments are dropped; the last statement needs no
 * semicolon. An unterminated string, identifier or block comment is an error naming where it
 * starts. No Flink classes are used, so this is testable without Flink.
 */
final class ScriptSplitter {

    private ScriptSplitter() {}

    /** One statement of the script, without its terminating semicolon. */
    static final class Statement {
        /** 1-based position among the script's statements. */
        final int index;
        /** 1-based line and column of the statement's first significant character. */
        final int line;

        final int column;
        /** The text from the first significant character up to (not including) the semicolon. */
        final String text;
        /** The statement's first line up to its start, every char but a tab made a space. */
        private final String linePadding;

        Statement(int index, int line, int column, String text, String linePadding) {
            this.index = index;
            this.line = line;
            this.column = column;
            this.text = text;
            this.linePadding = linePadding;
        }

        /**
         * The text preceded by {@code line - 1} newlines and by the statement's line up to its
         * start with every character but a tab made a space: Flink's parser then reports the
         * line and column of an error as they are in the script.
         */
        String positionedText() {
            // Built on demand: kept for every statement, the newlines would grow with the square
            // of the script's length.
            return "\n".repeat(line - 1) + linePadding + text;
        }

        /** The first line of the text, shortened, for messages. */
        String excerpt() {
            String first = text.strip();
            int nl = first.indexOf('\n');
            if (nl >= 0) {
                first = first.substring(0, nl).strip() + " …";
            }
            return first.length() > 80 ? first.substring(0, 77) + "…" : first;
        }
    }

    /** A script that cannot be split (an unterminated quote or comment). */
    static final class SplitException extends Exception {
        private static final long serialVersionUID = 1L;
        final int line;
        final int column;

        SplitException(String message, int line, int column) {
            super(message + " (line " + line + ", column " + column + ")");
            this.line = line;
            this.column = column;
        }
    }

    private enum State {
        CODE,
        SINGLE_QUOTE,
        DOUBLE_QUOTE,
        BACKTICK,
        LINE_COMMENT,
        BLOCK_COMMENT
    }

    /** Splits {@code script}; see the class comment for the rules. */
    static List<Statement> split(String script) throws SplitException {
        List<Statement> out = new ArrayList<>();
        State state = State.CODE;
        int line = 1;
        int lineStart = 0; // index of the first char of the current line
        int openedLine = 0; // where the current quote or block comment started (for errors)
        int openedColumn = 0;

        int start = -1; // first significant char of the current statement, -1 before it
        int startLine = 0;
        int startColumn = 0;
        String startPadding = "";
        // Words of the current statement outside quotes and comments: the first four decide
        // whether it is an EXECUTE STATEMENT SET block, the last whether such a block has ended.
        List<String> leadingWords = new ArrayList<>(4);
        String lastWord = "";
        boolean inBlock = false;

        int n = script.length();
        int i = 0;
        while (i < n) {
            char c = script.charAt(i);
            char next = i + 1 < n ? script.charAt(i + 1) : '\0';
            switch (state) {
                case LINE_COMMENT:
                    if (c == '\n') {
                        state = State.CODE;
                    }
                    break;
                case BLOCK_COMMENT:
                    if (c == '*' && next == '/') {
                        state = State.CODE;
                        i++;
                    }
                    break;
                case SINGLE_QUOTE:
                case DOUBLE_QUOTE:
                case BACKTICK:
                    char quote =
                            state == State.SINGLE_QUOTE ? '\'' : state == State.DOUBLE_QUOTE ? '"' : '`';
                    if (c == quote) {
                        if (next == quote) {
                            i++; // a doubled quote stands for the quote itself
                        } else {
                            state = State.CODE;
                        }
                    }
                    break;
                case CODE:
                    if (c == '-' && next == '-') {
                        state = State.LINE_COMMENT;
                        i++;
                        break;
                    }
                    if (c == '/' && next == '*') {
                        state = State.BLOCK_COMMENT;
                        openedLine = line;
                        openedColumn = i - lineStart + 1;
                        i++;
                        break;
                    }
                    if (c == ';' && (!inBlock || lastWord.equals("END"))) {
                        if (start >= 0) {
                            out.add(
                                    new Statement(
                                            out.size() + 1,
                                            startLine,
                                            startColumn,
                                            script.substring(start, i).stripTrailing(),
                                            startPadding));
                        }
                        start = -1;
                        leadingWords.clear();
                        lastWord = "";
                        inBlock = false;
                        break;
                    }
                    if (Character.isWhitespace(c)) {
                        break;
                    }
                    if (start < 0) {
                        start = i;
                        startLine = line;
                        startColumn = i - lineStart + 1;
                        startPadding = linePadding(script, lineStart, i);
                    }
                    if (c == '\'' || c == '"' || c == '`') {
                        state =
                                c == '\''
                                        ? State.SINGLE_QUOTE
                                        : c == '"' ? State.DOUBLE_QUOTE : State.BACKTICK;
                        openedLine = line;
                        openedColumn = i - lineStart + 1;
                        lastWord = "";
                        break;
                    }
                    if (isWordChar(c)) {
                        int end = i;
                        while (end < n && isWordChar(script.charAt(end))) {
                            end++;
                        }
                        lastWord = script.substring(i, end).toUpperCase(Locale.ROOT);
                        if (leadingWords.size() < 4) {
                            leadingWords.add(lastWord);
                            if (leadingWords.size() == 4
                                    && leadingWords.equals(
                                            List.of("EXECUTE", "STATEMENT", "SET", "BEGIN"))) {
                                inBlock = true;
                            }
                        }
                        i = end;
                        continue; // word chars are never newlines: line tracking is unaffected
                    }
                    lastWord = "";
                    break;
                default:
                    throw new IllegalStateException("unknown state " + state);
            }
            if (script.charAt(i) == '\n') {
                line++;
                lineStart = i + 1;
            }
            i++;
        }

        switch (state) {
            case SINGLE_QUOTE:
                throw new SplitException("unterminated string literal", openedLine, openedColumn);
            case DOUBLE_QUOTE:
            case BACKTICK:
                throw new SplitException("unterminated quoted identifier", openedLine, openedColumn);
            case BLOCK_COMMENT:
                throw new SplitException("unterminated comment", openedLine, openedColumn);
            default:
                break;
        }
        if (start >= 0) {
            out.add(
                    new Statement(
                            out.size() + 1,
                            startLine,
                            startColumn,
                            script.substring(start).stripTrailing(),
                            startPadding));
        }
        return out;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_' || c == '$';
    }

    /** The current line up to {@code at}, every char but a tab made a space. */
    private static String linePadding(String script, int lineStart, int at) {
        StringBuilder b = new StringBuilder(at - lineStart);
        for (int k = lineStart; k < at; k++) {
            b.append(script.charAt(k) == '\t' ? '\t' : ' ');
        }
        return b.toString();
    }
}
