#!/usr/bin/env bash
# Local Apache Flink session cluster (2.3 by default, 1.20 LTS too) for development, tests and CI.
#
# Why this exists: there is no Flink tarball to download here, only PyPI's apache-flink-libraries
# package (jars, no shell scripts, no conf): a wheel for 2.x, a source archive for 1.20 (same jars
# under deps/). This script installs it once per machine and version into a cache, then starts the
# JobManager and TaskManager JVMs directly, each cluster in its own work dir (conf, logs, pids,
# uploads, tmp) so several clusters with different REST ports (and versions) can run side by side.
#
# Flink 1.20 differences handled here: the package is an sdist (apache_flink_libraries-1.20.5.tar.gz,
# jars in deps/lib, deps/bin/bash-java-utils.jar); everything else is the same as 2.3: 1.20 reads
# conf/config.yaml (standard YAML) when present before the legacy flink-conf.yaml, BashJavaUtils
# prints the same two result lines, and the --add-opens list below is a superset of what 1.20 needs.
# The example job compiles unchanged against both (OpenContext, DataGeneratorSource and
# RateLimiterStrategy are all in flink-dist 1.20.5 and 2.3.0).
#
# Usage: flink-local.sh start|stop|status|example-jar|sql-runner-jar [--check]
#   start        start (or find running) a cluster; prints the REST URL on stdout
#   start --adaptive  the same with Flink's adaptive scheduler (jobs can be rescaled in place) and
#                short adaptive-scheduler timeouts, so a rescale takes seconds (= FLINK_SCHEDULER=adaptive)
#   stop         stop the JVMs this script started for the cluster (by pid), remove pid files
#   status       exit 0 and print the REST URL when running, exit 1 otherwise
#   example-jar  build examples/stateful-counter into the cache; prints the jar's path on stdout
#   sql-runner-jar          rebuild the committed runners/sql/sql-runner.jar from its source (same
#                           bytes for the same source and JDK feature release); prints its path
#   sql-runner-jar --check  rebuild into a temp dir and fail unless it equals the committed jar
#
# Environment:
#   FLINK_VERSION        Flink release from PyPI (default 2.3.0; 1.20.5 is the supported 1.x LTS)
#   FLINK_REST_PORT      REST port (default 8081); rpc/blob ports are picked free at start
#   FLINK_SLOTS          TaskManager slots (default 4)
#   FLINK_WORK_DIR       per-cluster dir (default $STATEPLANE_CACHE/clusters/$FLINK_REST_PORT)
#   FLINK_SCHEDULER      `adaptive` for Flink's adaptive scheduler (as `start --adaptive`); default: Flink's
#   FLINK_EXTRA_CONFIG   extra config.yaml lines (a key given here replaces the generated one)
#   FLINK_START_TIMEOUT  seconds to wait for the TaskManager to register (default 90)
#   FLINK_STOP_TIMEOUT   seconds between TERM and KILL on stop (default 20)
#   STATEPLANE_CACHE     cache root (default ~/.cache/stateplane)
#
# Every log line goes to stderr; stdout carries only the machine-readable result.
set -euo pipefail

FLINK_VERSION=${FLINK_VERSION:-2.3.0}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STATEPLANE_CACHE:-$HOME/.cache/stateplane}
FLINK_HOME_DIR=$CACHE/flink-$FLINK_VERSION
WHEEL_DIR=$CACHE/wheels
REST_PORT=${FLINK_REST_PORT:-8081}
SLOTS=${FLINK_SLOTS:-4}
SCHEDULER=${FLINK_SCHEDULER:-default}
WORK=${FLINK_WORK_DIR:-$CACHE/clusters/$REST_PORT}
START_TIMEOUT=${FLINK_START_TIMEOUT:-90}
STOP_TIMEOUT=${FLINK_STOP_TIMEOUT:-20}
REST_URL=http://127.0.0.1:$REST_PORT

log() { echo "[flink-local $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $FLINK_VERSION =~ ^[12]\.[0-9]+\.[0-9]+$ ]] || die "FLINK_VERSION must look like 2.3.0 or 1.20.5, got '$FLINK_VERSION'"
[[ $REST_PORT =~ ^[0-9]+$ ]] || die "FLINK_REST_PORT must be a number, got '$REST_PORT'"
[[ $SLOTS =~ ^[0-9]+$ ]] || die "FLINK_SLOTS must be a number, got '$SLOTS'"

# The --add-opens/--add-exports list of env.java.opts.all in Flink 2.3's default config.yaml;
# Java 17 refuses Flink's reflective access without it.
JAVA_OPENS=(
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------

# Installs Debian packages when a needed tool is missing (fresh CI machines).
apt_install() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need to install $* but not root and no sudo"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || die "need $* but apt-get is not available; install them by hand"
  log "installing $* with apt-get"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_java() {
  if ! command -v java >/dev/null || ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    apt_install openjdk-17-jdk-headless
  fi
}

ensure_tools() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v flock >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

pip_cmd() {
  if command -v pip3 >/dev/null; then echo pip3
  elif command -v pip >/dev/null; then echo pip
  elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then echo "python3 -m pip"
  else
    apt_install python3-pip
    echo "python3 -m pip"
  fi
}

# The downloaded package: a wheel (2.x) or, where PyPI has none (1.20.x), the source archive.
find_wheel() {
  local w
  for w in "$WHEEL_DIR"/apache_flink_libraries-"$FLINK_VERSION"-*.whl \
           "$WHEEL_DIR"/apache_flink_libraries-"$FLINK_VERSION".tar.gz \
           "$WHEEL_DIR"/apache-flink-libraries-"$FLINK_VERSION".tar.gz; do
    if [ -f "$w" ]; then echo "$w"; return; fi
  done
}

# Downloads and unpacks Flink once per machine. The unpacked tree appears atomically (rename of a
# finished temp dir) and a lock keeps two concurrent first-time installs from racing.
install_flink() {
  if [ -f "$FLINK_HOME_DIR/.complete" ]; then return 0; fi
  ensure_tools
  mkdir -p "$CACHE" "$WHEEL_DIR"
  exec 8>"$CACHE/.install-flink-$FLINK_VERSION.lock"
  log "waiting for the Flink install lock"
  flock -w 1800 8 || die "timed out waiting for another Flink install ($CACHE)"
  if [ -f "$FLINK_HOME_DIR/.complete" ]; then exec 8>&-; return 0; fi
  local wheel
  wheel=$(find_wheel)
  if [ -z "$wheel" ]; then
    log "downloading apache-flink-libraries==$FLINK_VERSION (230-330 MB) into $WHEEL_DIR"
    # shellcheck disable=SC2046
    $(pip_cmd) download --no-deps --disable-pip-version-check -d "$WHEEL_DIR" \
      "apache-flink-libraries==$FLINK_VERSION" >&2 || die "pip download failed"
    wheel=$(find_wheel)
    [ -n "$wheel" ] || die "pip download finished but no wheel in $WHEEL_DIR"
  fi
  log "unpacking $wheel"
  local tmp="$CACHE/.flink-$FLINK_VERSION.tmp.$$" home
  rm -rf "$tmp" "$FLINK_HOME_DIR"
  mkdir -p "$tmp"
  case "$wheel" in
    *.whl) # 2.x wheel: pyflink/{lib,bin,plugins}
      home=$tmp/pyflink
      unzip -q "$wheel" 'pyflink/lib/*' 'pyflink/bin/*' 'pyflink/plugins/*' -d "$tmp" \
        || { rm -rf "$tmp"; die "unzip of $wheel failed (corrupt download? delete it and retry)"; } ;;
    *) # 1.20 sdist: apache_flink_libraries-<v>/deps/{lib,bin,plugins}
      home=$tmp/deps
      tar -xzf "$wheel" -C "$tmp" --strip-components=1 --wildcards '*/deps/lib/*' '*/deps/bin/*' '*/deps/plugins/*' \
        || { rm -rf "$tmp"; die "unpacking $wheel failed (corrupt download? delete it and retry)"; } ;;
  esac
  [ -f "$home/lib/flink-dist-$FLINK_VERSION.jar" ] || { rm -rf "$tmp"; die "no flink-dist jar in $wheel"; }
  [ -f "$home/bin/bash-java-utils.jar" ] || { rm -rf "$tmp"; die "no bin/bash-java-utils.jar in $wheel"; }
  touch "$home/.complete"
  mv "$home" "$FLINK_HOME_DIR"
  rm -rf "$tmp"
  exec 8>&-
  log "Flink $FLINK_VERSION installed in $FLINK_HOME_DIR"
}

# ---------------------------------------------------------------------------------------------
# Cluster state
# ---------------------------------------------------------------------------------------------

# A pid counts as ours only while it is alive and its command line names this work dir, so a
# recycled pid is never mistaken for (or killed as) one of our JVMs.
our_pid() {
  local f="$WORK/pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dlog.file=$WORK/log/$1.log" || return 1
  echo "$pid"
}

rest_get() { curl -sf --max-time 3 "$REST_URL$1"; }

# Number of registered TaskManagers, or empty when REST does not answer.
registered_tms() {
  rest_get /overview 2>/dev/null | grep -o '"taskmanagers":[0-9]*' | cut -d: -f2 || true
}

is_running() {
  our_pid jobmanager >/dev/null && our_pid taskmanager >/dev/null || return 1
  local n; n=$(registered_tms)
  [ -n "$n" ] && [ "$n" -ge 1 ]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback port. Bind-checked with python when present, else a connect probe on a random
# port; Flink fails fast (and we report it) in the unlikely case someone takes it meanwhile.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free port found"
}

log_tail() {
  local f
  for f in "$WORK"/log/jobmanager.log "$WORK"/log/jobmanager.out "$WORK"/log/taskmanager.log "$WORK"/log/taskmanager.out; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

# ---------------------------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------------------------

write_config() {
  local rpc_port=$1 blob_port=$2 conf=$WORK/conf/config.yaml
  local extra=${FLINK_EXTRA_CONFIG:-}
  local generated
  generated=$(cat <<EOF
env.java.opts.all: ${JAVA_OPENS[*]}
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $rpc_port
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
taskmanager.host: localhost
taskmanager.bind-host: localhost
taskmanager.numberOfTaskSlots: $SLOTS
taskmanager.memory.process.size: 1200m
taskmanager.memory.managed.size: 64m
parallelism.default: 1
blob.server.port: $blob_port
rest.address: localhost
rest.bind-address: localhost
rest.port: $REST_PORT
web.upload.dir: $WORK/uploads
io.tmp.dirs: $WORK/tmp
state.backend.type: hashmap
EOF
)
  if [ "$SCHEDULER" = adaptive ]; then
    # In-place rescaling (PUT /jobs/{jid}/resource-requirements) needs the adaptive scheduler. Its
    # defaults wait 30 s after a (re)start before rescaling and up to 60 s for resources; 1 s here.
    generated+=$'\njobmanager.scheduler: adaptive'
    if [[ $FLINK_VERSION == 1.* ]]; then
      generated+=$'\njobmanager.adaptive-scheduler.scaling-interval.min: 1s'
      generated+=$'\njobmanager.adaptive-scheduler.resource-stabilization-timeout: 1s'
    else
      generated+=$'\njobmanager.adaptive-scheduler.executing.cooldown-after-rescaling: 1s'
      generated+=$'\njobmanager.adaptive-scheduler.executing.resource-stabilization-timeout: 1s'
      generated+=$'\njobmanager.adaptive-scheduler.submission.resource-stabilization-timeout: 1s'
      generated+=$'\njobmanager.adaptive-scheduler.rescale-trigger.max-delay: 1s'
      generated+=$'\nweb.adaptive-scheduler.rescale-history.size: 20'
    fi
  fi
  if [ -n "$extra" ]; then
    # A key set in FLINK_EXTRA_CONFIG replaces the generated line: YAML forbids duplicate keys.
    local keys
    keys=$(printf '%s\n' "$extra" | sed -n 's/^\([^#[:space:]][^:]*\):.*/\1/p')
    generated=$(printf '%s\n' "$generated" | awk -v keys="$keys" '
      BEGIN { n = split(keys, k, "\n"); for (i = 1; i <= n; i++) drop[k[i]] = 1 }
      { key = $0; sub(/:.*/, "", key); if (!(key in drop)) print }')
    printf '%s\n# FLINK_EXTRA_CONFIG\n%s\n' "$generated" "$extra" >"$conf"
  else
    printf '%s\n' "$generated" >"$conf"
  fi
  cat >"$WORK/conf/log4j.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = RollingFile
appender.main.append = true
appender.main.fileName = ${sys:log.file}
appender.main.filePattern = ${sys:log.file}.%i
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.main.policies.type = Policies
appender.main.policies.size.type = SizeBasedTriggeringPolicy
appender.main.policies.size.size = 50MB
appender.main.strategy.type = DefaultRolloverStrategy
appender.main.strategy.max = 3
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4.io.netty
logger.netty.level = WARN
EOF
}

# Prints the two BASH_JAVA_UTILS result lines: JVM memory flags, then -D dynamic properties.
java_utils() {
  local out
  out=$(cd "$FLINK_HOME_DIR" && java -cp "bin/bash-java-utils.jar:lib/flink-dist-$FLINK_VERSION.jar" \
    org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$WORK/conf" 2>&1) \
    || die "Flink rejected the memory configuration ($1): $(printf '%s\n' "$out" | grep -E '^(Caused by: )?[a-zA-Z.]+(Exception|Error)' | tail -1)"
  printf '%s\n' "$out" | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}

launch() { # $1 role (jobmanager|taskmanager), $2 main class, $3 jvm flags, $4 dynamic properties
  local role=$1 main=$2 jvm=$3 dyn=$4 cp
  cp=$(find "$FLINK_HOME_DIR/lib" -maxdepth 1 -name '*.jar' | sort | tr '\n' ':')
  # The JVM is detached from our stdin/stdout (a caller reading our stdout must see EOF when we exit).
  # shellcheck disable=SC2086
  (cd "$WORK" && exec nohup java $jvm "${JAVA_OPENS[@]}" \
      -Dlog.file="$WORK/log/$role.log" \
      -Dlog4j.configurationFile="file:$WORK/conf/log4j.properties" \
      -cp "$cp" "$main" --configDir "$WORK/conf" $dyn \
      </dev/null >"$WORK/log/$role.out" 2>&1 7>&- 8>&- 9>&-) &
  echo $! >"$WORK/pids/$role.pid"
}

cmd_start() {
  mkdir -p "$WORK"
  exec 9>"$WORK/.lock"
  flock -w 300 9 || die "another start/stop holds $WORK/.lock"
  if is_running; then
    local running
    running=$(rest_get /overview 2>/dev/null | grep -o '"flink-version":"[^"]*"' | cut -d'"' -f4 || true)
    if [ -n "$running" ] && [ "$running" != "$FLINK_VERSION" ]; then
      die "Flink $running (not $FLINK_VERSION) already runs at $REST_URL (work dir $WORK); stop it first or choose another FLINK_REST_PORT"
    fi
    log "already running at $REST_URL (work dir $WORK)"
    echo "$REST_URL"
    return 0
  fi
  if our_pid jobmanager >/dev/null || our_pid taskmanager >/dev/null; then
    log "found a half-running cluster in $WORK; stopping it first"
    stop_pids
  fi
  if port_in_use "$REST_PORT"; then
    die "port $REST_PORT is already in use by something else; choose another FLINK_REST_PORT"
  fi
  ensure_tools
  ensure_java
  install_flink

  mkdir -p "$WORK"/{conf,log,pids,uploads,tmp}
  local rpc_port blob_port
  rpc_port=$(free_port)
  blob_port=$(free_port)
  while [ "$blob_port" = "$rpc_port" ]; do blob_port=$(free_port); done
  write_config "$rpc_port" "$blob_port"

  local jm tm
  mapfile -t jm < <(java_utils GET_JM_RESOURCE_PARAMS)
  mapfile -t tm < <(java_utils GET_TM_RESOURCE_PARAMS)
  [ ${#jm[@]} -ge 2 ] && [ ${#tm[@]} -ge 2 ] || die "BashJavaUtils returned no memory settings"

  local t0=$SECONDS
  log "starting Flink $FLINK_VERSION: REST $REST_PORT, rpc $rpc_port, blob $blob_port, $SLOTS slots, work dir $WORK"
  launch jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint "${jm[0]}" "${jm[1]}"
  launch taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner "${tm[0]}" "${tm[1]}"

  local n
  while :; do
    n=$(registered_tms)
    if [ -n "$n" ] && [ "$n" -ge 1 ]; then break; fi
    if ! our_pid jobmanager >/dev/null || ! our_pid taskmanager >/dev/null; then
      log_tail
      stop_pids
      die "a Flink JVM exited during start-up (logs in $WORK/log)"
    fi
    if [ $((SECONDS - t0)) -ge "$START_TIMEOUT" ]; then
      log_tail
      stop_pids
      die "TaskManager not registered after ${START_TIMEOUT}s (logs in $WORK/log)"
    fi
    sleep 0.2
  done
  log "cluster up at $REST_URL after $((SECONDS - t0))s (JM pid $(cat "$WORK/pids/jobmanager.pid"), TM pid $(cat "$WORK/pids/taskmanager.pid"))"
  echo "$REST_URL"
}

# ---------------------------------------------------------------------------------------------
# stop / status
# ---------------------------------------------------------------------------------------------

stop_pids() {
  local pids=() role pid
  for role in taskmanager jobmanager; do
    if pid=$(our_pid "$role"); then pids+=("$pid"); fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    log "stopping pids ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local end=$((SECONDS + STOP_TIMEOUT)) alive
    while :; do
      alive=()
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
      [ ${#alive[@]} -gt 0 ] || break
      if [ $SECONDS -ge $end ]; then
        log "pids ${alive[*]} still alive after ${STOP_TIMEOUT}s; sending KILL"
        kill -KILL "${alive[@]}" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  fi
  rm -f "$WORK/pids/jobmanager.pid" "$WORK/pids/taskmanager.pid"
}

cmd_stop() {
  if [ ! -d "$WORK" ]; then log "no cluster work dir $WORK; nothing to stop"; return 0; fi
  exec 9>"$WORK/.lock"
  flock -w 300 9 || die "another start/stop holds $WORK/.lock"
  if ! our_pid jobmanager >/dev/null && ! our_pid taskmanager >/dev/null; then
    rm -f "$WORK/pids/jobmanager.pid" "$WORK/pids/taskmanager.pid"
    log "not running (work dir $WORK)"
    return 0
  fi
  stop_pids
  log "stopped (work dir $WORK)"
}

cmd_status() {
  if is_running; then
    echo "$REST_URL"
    return 0
  fi
  log "not running (work dir $WORK)"
  return 1
}

# ---------------------------------------------------------------------------------------------
# example-jar
# ---------------------------------------------------------------------------------------------

cmd_example_jar() {
  local src=$REPO_ROOT/examples/stateful-counter/src/main/java
  [ -d "$src" ] || die "example sources not found at $src"
  ensure_java
  install_flink
  local hash
  hash=$( (cd "$src" && find . -type f -name '*.java' | LC_ALL=C sort | xargs sha256sum; echo "flink $FLINK_VERSION") \
    | sha256sum | cut -c1-16)
  local out_dir=$CACHE/jars jar
  jar=$out_dir/stateful-counter-$hash.jar
  if [ ! -f "$jar" ]; then
    mkdir -p "$out_dir"
    exec 7>"$out_dir/.build.lock"
    flock -w 300 7 || die "timed out waiting for another example-jar build"
    if [ ! -f "$jar" ]; then
      local build
      build=$(mktemp -d "$out_dir/.build.XXXXXX")
      log "building stateful-counter example ($hash)"
      local files=()
      mapfile -t files < <(find "$src" -type f -name '*.java' | LC_ALL=C sort)
      javac -nowarn --release 17 -d "$build/classes" -cp "$FLINK_HOME_DIR/lib/*" "${files[@]}" >&2 \
        || { rm -rf "$build"; die "javac failed"; }
      jar --create --file "$build/job.jar" --main-class io.stateplane.examples.StatefulCounter \
        -C "$build/classes" . >&2 || { rm -rf "$build"; die "jar failed"; }
      mv "$build/job.jar" "$jar"
      rm -rf "$build"
    fi
    exec 7>&-
  fi
  echo "$jar"
}

# ---------------------------------------------------------------------------------------------
# sql-runner-jar
# ---------------------------------------------------------------------------------------------
# The SQL runner jar is committed (runners/sql/sql-runner.jar) so that a binary can embed it and
# users need no JDK. The build is reproducible so that --check can prove the committed jar is
# built from the committed source: javac output depends only on the sources, the class path's
# API and the JDK's feature release; the jar has sorted entries, a fixed --date, our own manifest
# (no JDK-specific Created-By) and no compression (no dependence on the platform's zlib).

SQL_RUNNER_DIR=$REPO_ROOT/runners/sql
SQL_RUNNER_JAR=$SQL_RUNNER_DIR/sql-runner.jar
SQL_RUNNER_API=1.20.5          # compiled against this Flink's lib/ ...
SQL_RUNNER_ALSO=2.3.0          # ... and must give identical class files against this one
SQL_RUNNER_DATE=2024-01-01T00:00:00Z

javac_feature() { javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p'; }

# Compiles the runner's main sources against Flink $2's lib into $1.
sql_runner_compile() {
  local out=$1 version=$2 files=()
  (FLINK_VERSION=$version; FLINK_HOME_DIR=$CACHE/flink-$version; install_flink) \
    || die "the SQL runner is built against Flink $version, which could not be installed"
  mapfile -t files < <(find "$SQL_RUNNER_DIR/src/main/java" -type f -name '*.java' | LC_ALL=C sort)
  [ ${#files[@]} -gt 0 ] || die "no sources in $SQL_RUNNER_DIR/src/main/java"
  mkdir -p "$out"
  javac -nowarn -encoding UTF-8 --release 11 -d "$out" -cp "$CACHE/flink-$version/lib/*" "${files[@]}" >&2 \
    || die "javac failed against Flink $version"
}

# Builds the jar into $1 (a temp dir), running the splitter tests and the linkage check on the way.
sql_runner_build() {
  local build=$1 feature
  feature=$(javac_feature)
  [ -n "$feature" ] || die "cannot tell javac's version from '$(javac -version 2>&1)'"
  sql_runner_compile "$build/api" "$SQL_RUNNER_API"
  sql_runner_compile "$build/also" "$SQL_RUNNER_ALSO"
  # Identical class files mean every Flink class and method the runner refers to has the same
  # owner, kind and descriptor in both versions: the one jar links against both.
  diff -r "$build/api" "$build/also" >&2 \
    || die "class files differ between Flink $SQL_RUNNER_API and $SQL_RUNNER_ALSO: the runner uses an API that changed"
  local tests=()
  mapfile -t tests < <(find "$SQL_RUNNER_DIR/src/test/java" -type f -name '*.java' | LC_ALL=C sort)
  javac -nowarn -encoding UTF-8 --release 11 -d "$build/test" -cp "$build/api" "${tests[@]}" >&2 \
    || die "javac failed for the runner's tests"
  java -ea -cp "$build/test:$build/api" io.stateplane.sqlrunner.ScriptSplitterTest >&2 \
    || die "the runner's tests failed"
  printf 'Manifest-Version: 1.0\nMain-Class: io.stateplane.sqlrunner.SqlRunner\nCreated-By: stateplane scripts/flink-local.sh sql-runner-jar\nBuild-Jdk-Spec: %s\nFlink-Api: %s %s\n' \
    "$feature" "$SQL_RUNNER_API" "$SQL_RUNNER_ALSO" >"$build/MANIFEST.MF"
  local entries=()
  mapfile -t entries < <(cd "$build/api" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
  (cd "$build/api" && TZ=UTC jar --create --no-compress --date="$SQL_RUNNER_DATE" \
    --file "$build/sql-runner.jar" --manifest "$build/MANIFEST.MF" "${entries[@]}") >&2 \
    || die "jar failed"
}

cmd_sql_runner_jar() {
  local check=0
  case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) die "usage: $0 sql-runner-jar [--check]" ;;
  esac
  ensure_tools
  ensure_java
  local build
  build=$(mktemp -d "${TMPDIR:-/tmp}/sql-runner.XXXXXX")
  SQL_RUNNER_BUILD=$build
  trap 'rm -rf "$SQL_RUNNER_BUILD"' EXIT
  sql_runner_build "$build"
  if [ "$check" = 0 ]; then
    cp "$build/sql-runner.jar" "$SQL_RUNNER_JAR.tmp" && mv "$SQL_RUNNER_JAR.tmp" "$SQL_RUNNER_JAR"
    log "built $SQL_RUNNER_JAR ($(wc -c <"$SQL_RUNNER_JAR") bytes, sha256 $(sha256sum "$SQL_RUNNER_JAR" | cut -c1-16))"
    echo "$SQL_RUNNER_JAR"
    return 0
  fi
  [ -f "$SQL_RUNNER_JAR" ] || die "$SQL_RUNNER_JAR is missing; run $0 sql-runner-jar and commit it"
  local committed
  committed=$(unzip -p "$SQL_RUNNER_JAR" META-INF/MANIFEST.MF 2>/dev/null | tr -d '\r' | sed -n 's/^Build-Jdk-Spec: //p')
  if [ "$committed" != "$(javac_feature)" ]; then
    die "the committed jar was built with JDK ${committed:-?}, this javac is $(javac_feature): javac output may differ between feature releases, so compare with JDK ${committed:-?} (or rebuild and commit)"
  fi
  if ! cmp -s "$build/sql-runner.jar" "$SQL_RUNNER_JAR"; then
    log "entries of the committed jar vs. a fresh build:"
    diff <(unzip -lv "$SQL_RUNNER_JAR" | awk 'NR>3 {print $7, $8}') \
         <(unzip -lv "$build/sql-runner.jar" | awk 'NR>3 {print $7, $8}') >&2 || true
    die "$SQL_RUNNER_JAR is not built from the committed source; run $0 sql-runner-jar and commit the jar"
  fi
  log "$SQL_RUNNER_JAR is exactly what its source builds to (sha256 $(sha256sum "$SQL_RUNNER_JAR" | cut -c1-16))"
  echo "$SQL_RUNNER_JAR"
}

case "${1:-}" in
  start)
    case "${2:-}" in
      "") ;;
      --adaptive) SCHEDULER=adaptive ;;
      *) die "unknown option to start: '$2' (only --adaptive)" ;;
    esac
    cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  example-jar) cmd_example_jar ;;
  sql-runner-jar) shift; cmd_sql_runner_jar "$@" ;;
  *) echo "usage: $0 start|stop|status|example-jar|sql-runner-jar [--check]" >&2; exit 2 ;;
esac
