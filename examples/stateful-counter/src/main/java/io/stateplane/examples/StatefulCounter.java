package io.stateplane.examples;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * A small stateful streaming job for stateplane's tests and demos.
 *
 * <p>A rate-limited sequence 0, 1, 2, ... is keyed by {@code v % 4}; each key keeps a {@code
 * ValueState<Long>} counter and prints {@code key=K count=C last=V}. After a restore from a
 * savepoint or retained checkpoint the counts carry on from where they were, which is what the
 * tests check. Every operator has a stable {@code uid} so state maps back after a restart.
 *
 * <p>Arguments: {@code [RATE] [--tag NAME] [--fail-after N] [--state-kib N] [--counter-uid UID]
 * [--stateless-map]}
 *
 * <ul>
 *   <li>{@code RATE}: records per second (default 10).
 *   <li>{@code --tag NAME}: prefix every printed line with {@code NAME> } so several jobs can share
 *       one TaskManager stdout file.
 *   <li>{@code --fail-after N}: throw after N records per subtask (counted since the task
 *       started, not restored). Submit with {@code restart-strategy.type: none} to make that a
 *       terminal FAILED job instead of a restart loop.
 *   <li>{@code --state-kib N}: also keep N KiB of incompressible keyed state (spread over the four
 *       keys, written with each key's first record), so a savepoint has something to write: the
 *       benchmarks use it to take savepoints of a realistic duration.
 *   <li>{@code --counter-uid UID}: the counter's uid (default {@code count-per-key}); another uid
 *       is another operator id, so a snapshot's counter state no longer maps (the upgrade tests'
 *       "renamed stateful uid").
 *   <li>{@code --stateless-map}: add a stateless identity map (uid {@code stateless-map}) between
 *       the counter and the sink; every other operator keeps its id (the upgrade tests' compatible
 *       change). Printed lines are the same.
 * </ul>
 */
public final class StatefulCounter {

    private StatefulCounter() {}

    public static void main(String[] args) throws Exception {
        double rate = 10.0;
        long failAfter = -1;
        int stateKib = 0;
        String tag = null;
        String counterUid = "count-per-key";
        boolean statelessMap = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--fail-after") && i + 1 < args.length) {
                failAfter = Long.parseLong(args[++i]);
            } else if (a.equals("--state-kib") && i + 1 < args.length) {
                stateKib = Integer.parseInt(args[++i]);
            } else if (a.equals("--tag") && i + 1 < args.length) {
                tag = args[++i];
            } else if (a.equals("--counter-uid") && i + 1 < args.length) {
                counterUid = args[++i];
            } else if (a.equals("--stateless-map")) {
                statelessMap = true;
            } else if (i == 0 && !a.startsWith("--")) {
                rate = Double.parseDouble(a);
            } else {
                throw new IllegalArgumentException(
                        "unexpected argument '"
                                + a
                                + "'; usage: [RATE] [--tag NAME] [--fail-after N] [--state-kib N]"
                                + " [--counter-uid UID] [--stateless-map]");
            }
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataGeneratorSource<Long> source =
                new DataGeneratorSource<>(
                        (GeneratorFunction<Long, Long>) index -> index,
                        Long.MAX_VALUE,
                        RateLimiterStrategy.perSecond(rate),
                        Types.LONG);

        var counted =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence")
                        .uid("sequence-source")
                        .keyBy(v -> v % 4)
                        .process(new CountPerKey(failAfter, stateKib))
                        .uid(counterUid)
                        .name("count-per-key");
        if (statelessMap) {
            counted =
                    counted.map((MapFunction<String, String>) line -> line)
                            .returns(Types.STRING)
                            .uid("stateless-map")
                            .name("stateless-map");
        }
        (tag == null ? counted.print() : counted.print(tag)).uid("print-sink").name("print-sink");

        env.execute("stateful-counter");
    }

    /** Counts records per key in keyed state and prints the running count. */
    public static final class CountPerKey extends KeyedProcessFunction<Long, Long, String> {
        private final long failAfter;
        private final int stateKib;
        private transient ValueState<Long> count;
        private transient ValueState<byte[]> ballast;
        private transient long seen;

        public CountPerKey(long failAfter, int stateKib) {
            this.failAfter = failAfter;
            this.stateKib = stateKib;
        }

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            ballast =
                    getRuntimeContext()
                            .getState(
                                    new ValueStateDescriptor<>(
                                            "ballast",
                                            org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo
                                                    .BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
            seen = 0;
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<String> out) throws Exception {
            seen++;
            if (failAfter >= 0 && seen > failAfter) {
                throw new IllegalStateException(
                        "deliberate failure after " + failAfter + " records (--fail-after)");
            }
            if (stateKib > 0 && ballast.value() == null) {
                byte[] bytes = new byte[stateKib * 1024 / 4];
                new java.util.Random(value).nextBytes(bytes);
                ballast.update(bytes);
            }
            Long previous = count.value();
            long c = (previous == null ? 0L : previous) + 1;
            count.update(c);
            out.collect("key=" + ctx.getCurrentKey() + " count=" + c + " last=" + value);
        }
    }
}
