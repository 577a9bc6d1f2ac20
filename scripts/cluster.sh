#!/usr/bin/env bash
# Loopback 3-node clusters for tests and CI (docs/architecture.md#clusters): RabbitMQ 3.10 and
# NATS JetStream 2.9 on 127.0.0.1, next to (never instead of) the shared single-node servers on
# their default ports.
#
#   scripts/cluster.sh start rabbitmq|nats|all   start (or repair) a cluster; a no-op when it is up
#   scripts/cluster.sh stop  rabbitmq|nats|all   stop it, keeping its data (start again = same cluster)
#   scripts/cluster.sh clean rabbitmq|nats|all   stop it and delete its state (next start = new cluster)
#   scripts/cluster.sh status [rabbitmq|nats|all]    nodes, pids, ports; exit 1 if a node is down
#   scripts/cluster.sh urls KIND                 comma-separated client URLs
#   scripts/cluster.sh info KIND                 the cluster as one line of JSON (for test helpers)
#   scripts/cluster.sh kill KIND N               kill -9 node N (1-based); `start` leaves it down
#   scripts/cluster.sh start-node KIND N         restart node N with its data; it rejoins the cluster
#   scripts/cluster.sh pause KIND N / resume KIND N   SIGSTOP / SIGCONT node N
#   scripts/cluster.sh ctl N ARGS...             rabbitmqctl -n bkN@localhost ARGS (right user and cookie)
#
# State (ports, configs, data, logs, pids) lives under ${BK_CLUSTER_DIR:-/tmp/brokerkit-cluster}.
# Ports are picked once, free on 127.0.0.1 in 20000–32767 (below the ephemeral range, away from the
# shared servers' 4222/5672/...), and kept in <dir>/<kind>/ports.env so restarts keep them.
# Commands that change the clusters take a lock, so parallel test processes can all call `start`;
# `kill` and `pause` hold a node down so that those `start`s do not revive it (see HOLD_S).
# Messages go to stderr; `urls`, `info` and `ctl` write their answer to stdout.
#
# RabbitMQ nodes are bk1@localhost..bk3@localhost. Node names are global to the machine (epmd), so
# a second cluster needs its own BK_CLUSTER_PREFIX (default bk) as well as its own BK_CLUSTER_DIR.
# As root the nodes run as the `rabbitmq` user with its home (its Erlang cookie, which `ctl` uses
# too), each with its own rabbitmq-env.conf (RABBITMQ_CONF_ENV_FILE, so
# /etc/rabbitmq/rabbitmq-env.conf is not read), config file, plugins file (management +
# prometheus), dist port, mnesia and log dirs. On the first start the three boot in parallel and 2
# and 3 join 1 through classic_config peer discovery (stop_app / join_cluster / start_app if that
# fails); later starts reuse the data. NATS nodes are servers bk1..bk3 of cluster `bkc` with
# JetStream; `start` returns once every node knows a JetStream meta leader.
set -euo pipefail

DIR="${BK_CLUSTER_DIR:-/tmp/brokerkit-cluster}"
PREFIX="${BK_CLUSTER_PREFIX:-bk}"
[[ $PREFIX =~ ^[a-z][a-z0-9]*$ ]] || { echo "BK_CLUSTER_PREFIX must be lower-case letters and digits" >&2; exit 2; }
N=3
TIMEOUT="${BK_CLUSTER_TIMEOUT:-90}" # seconds, per wait
RMQ_BIN="${BK_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
NATS_SERVER="${BK_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
RMQ_USER=rabbitmq
AVOID=" 4222 4369 5671 5672 6222 8222 15672 15692 25672 "

say() { printf '%(%T)T cluster: %s\n' -1 "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usage() {
  sed -n '6,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------- helpers

# The polling helpers avoid forks (slow in sandboxes, and the box is busy while nodes boot).
port_open() { : 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

read_pid() { file_pid "$1" && echo "$FILE_PID"; }
file_pid() { # sets FILE_PID to the number in file $1 ('' when none)
  FILE_PID=''
  if [[ -s $1 ]]; then read -r FILE_PID <"$1" || true; fi
  FILE_PID="${FILE_PID//[!0-9]/}"
}
proc_has() { # pid file(environ|cmdline) entry: /proc/PID/FILE holds the NUL-separated entry
  local entries e
  mapfile -d '' -t entries <"/proc/$1/$2" 2>/dev/null || return 1
  for e in "${entries[@]}"; do [[ $e == "$3" ]] && return 0; done
  return 1
}

# `S`, `T` (stopped), ... from /proc/PID/stat
pid_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }

# Pick one free port: not listening on any address, not in $AVOID, not handed out already.
TAKEN=""
LISTENING=""
free_port() { # sets PORT
  local p tries=0
  [[ -n $LISTENING ]] || LISTENING=" $({ ss -Hltn 2>/dev/null || true; } | awk '{n=split($4,a,":"); print a[n]}' | tr '\n' ' ') "
  while :; do
    p=$((20000 + RANDOM % 12768))
    ((tries++ < 1000)) || die "no free port found"
    [[ $AVOID == *" $p "* || $TAKEN == *" $p "* || $LISTENING == *" $p "* ]] && continue
    port_open "$p" && continue
    TAKEN+=" $p "
    PORT=$p
    return
  done
}

# Run `desc` until it succeeds or TIMEOUT passes; `alive` is checked between tries.
wait_until() { # description check-function [alive-function]
  local deadline=$((SECONDS + TIMEOUT))
  until "$2"; do
    if [[ -n ${3:-} ]] && ! "$3"; then return 2; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

tail_log() { # file...
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    say "---- last lines of $f"
    tail -n 30 "$f" >&2
  done
}

lock() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  exec 9>"$DIR/.lock"
  flock -w 600 9 || die "could not lock $DIR/.lock"
}

check_kind() {
  case "${1:-}" in rabbitmq | nats) ;; *) die "unknown kind '${1:-}' (rabbitmq or nats)" ;; esac
}
check_node() { [[ ${1:-} =~ ^[1-3]$ ]] || die "node number must be 1..$N, got '${1:-}'"; }

# `kill` and `pause` hold a node down: `start` (which every test process calls) leaves it alone,
# so a fault test's dead node is not brought back by another test, until `start-node` / `resume`,
# `stop`, or BK_CLUSTER_HOLD seconds (default 300: a fault test that died half-way) have passed.
HOLD_S="${BK_CLUSTER_HOLD:-300}"
hold_file() { echo "$DIR/$1/n$2/held"; } # kind n
hold() { echo "$(date +%s) $3" >"$(hold_file "$1" "$2")"; } # kind n reason
release() { rm -f "$(hold_file "$1" "$2")"; }
held() { # kind n: held down, and not for longer than HOLD_S
  local f since
  f="$(hold_file "$1" "$2")"
  [[ -s $f ]] || return 1
  since="$(cut -d' ' -f1 "$f")"
  if (($(date +%s) - since < HOLD_S)); then return 0; fi
  say "$1: node $2 was held down ($(cut -d' ' -f2- "$f")) more than ${HOLD_S}s ago: releasing it"
  release "$1" "$2"
  return 1
}
held_note() { # kind n
  local f
  f="$(hold_file "$1" "$2")"
  [[ -s $f ]] && echo " held-by=$(cut -d' ' -f2- "$f")($(($(date +%s) - $(cut -d' ' -f1 "$f")))s)"
  return 0
}
# Nodes that `start` looks after: every node that is not held down.
free_nodes() { # kind -> "1 3"
  local i out=()
  for i in $(seq 1 $N); do held "$1" "$i" || out+=("$i"); done
  echo "${out[*]}"
}

# ---------------------------------------------------------------------------------------- RabbitMQ

RDIR="$DIR/rabbitmq"
rnode() { echo "$PREFIX$1@localhost"; }

rmq_home() { getent passwd "$RMQ_USER" | cut -d: -f6; }

# Run a command as the user the RabbitMQ nodes run as, with that user's home (Erlang cookie).
as_rmq() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u "$RMQ_USER" -- env -i PATH="$PATH" HOME="$(rmq_home)" LC_ALL=C.UTF-8 LANG=C.UTF-8 "$@"
  else
    env LC_ALL=C.UTF-8 LANG=C.UTF-8 "$@"
  fi
}

ctl() { # node-number args...
  local n=$1
  shift
  as_rmq "$RMQ_BIN/rabbitmqctl" -q -n "$(rnode "$n")" "$@"
}

rmq_preflight() {
  [[ -x $RMQ_BIN/rabbitmq-server ]] || die "rabbitmq-server not found in $RMQ_BIN (set BK_RABBITMQ_BIN)"
  command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
  if [[ $(id -u) == 0 ]]; then
    id "$RMQ_USER" >/dev/null 2>&1 || die "user $RMQ_USER does not exist"
    local home
    home="$(rmq_home)"
    # All nodes and rabbitmqctl must share one cookie; make sure it exists before three nodes race
    # to create it.
    if [[ ! -s $home/.erlang.cookie ]]; then
      say "creating the Erlang cookie $home/.erlang.cookie"
      mkdir -p "$home"
      chown "$RMQ_USER:" "$home"
      (umask 077 && tr -dc 'A-Z' </dev/urandom | head -c 20 >"$home/.erlang.cookie")
      chown "$RMQ_USER:" "$home/.erlang.cookie"
      chmod 400 "$home/.erlang.cookie"
    fi
  fi
}

rmq_ports() {
  if [[ ! -s $RDIR/ports.env ]]; then
    mkdir -p "$RDIR"
    local i k tmp="$RDIR/ports.env.tmp"
    : >"$tmp"
    for i in $(seq 1 $N); do
      for k in AMQP MGMT PROM DIST; do free_port && echo "${k}_$i=$PORT" >>"$tmp"; done
    done
    mv "$tmp" "$RDIR/ports.env"
  fi
  # shellcheck disable=SC1091
  . "$RDIR/ports.env"
}
rport() { local v="$1_$2" && echo "${!v}"; } # AMQP 2 -> $AMQP_2

rmq_write_config() { # n
  local n=$1 d="$RDIR/n$1"
  mkdir -p "$d/mnesia" "$d/log"
  cat >"$d/rabbitmq.conf" <<EOF
# written by scripts/cluster.sh
listeners.tcp.local = 127.0.0.1:$(rport AMQP "$n")
management.tcp.ip = 127.0.0.1
management.tcp.port = $(rport MGMT "$n")
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $(rport PROM "$n")
log.file.level = info
cluster_name = brokerkit-test
EOF
  if ((n > 1)); then
    # When blank (first start), join node 1 (retrying for up to 60 s). A node with data ignores
    # this and rejoins its own cluster.
    cat >>"$d/rabbitmq.conf" <<EOF
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = $(rnode 1)
cluster_formation.discovery_retry_limit = 240
cluster_formation.discovery_retry_interval = 250
EOF
  fi
  echo '[rabbitmq_management,rabbitmq_prometheus].' >"$d/enabled_plugins"
  cat >"$d/rabbitmq-env.conf" <<EOF
# written by scripts/cluster.sh (replaces /etc/rabbitmq/rabbitmq-env.conf for this node)
NODENAME=$(rnode "$n")
CONFIG_FILE=$d/rabbitmq.conf
ENABLED_PLUGINS_FILE=$d/enabled_plugins
MNESIA_BASE=$d/mnesia
LOG_BASE=$d/log
PID_FILE=$d/rabbitmq.pid
DIST_PORT=$(rport DIST "$n")
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  if [[ $(id -u) == 0 ]]; then chown -R "$RMQ_USER:" "$RDIR"; fi
  chmod 755 "$RDIR"
}

rmq_find() { # sets RPID to node n's beam.smp pid if it is alive and ours, else ''
  file_pid "$RDIR/n$1/rabbitmq.pid"
  RPID="$FILE_PID"
  if [[ -n $RPID ]] && ! { pid_alive "$RPID" && proc_has "$RPID" environ "RABBITMQ_CONF_ENV_FILE=$RDIR/n$1/rabbitmq-env.conf"; }; then
    RPID=''
  fi
}
rmq_pid() { rmq_find "$1" && [[ -n $RPID ]] && echo "$RPID"; return 0; }
rmq_launcher_alive() { file_pid "$RDIR/n$1/launcher.pid" && pid_alive "$FILE_PID"; }
rmq_running() { rmq_find "$1" && [[ -n $RPID ]]; }
rmq_up() { # the node's AMQP and management listeners answer (management starts last)
  local a="AMQP_$1" m="MGMT_$1"
  port_open "${!a}" && port_open "${!m}" && rmq_running "$1"
}

rmq_launch() { # n
  local n=$1 d="$RDIR/n$1"
  rmq_write_config "$n"
  rm -f "$d/rabbitmq.pid"
  say "rabbitmq: starting $(rnode "$n") (amqp $(rport AMQP "$n"), management $(rport MGMT "$n"), prometheus $(rport PROM "$n"), dist $(rport DIST "$n"))"
  # Own session (a test runner killing its process group leaves the node alone), no inherited
  # pipes (callers waiting for our output end) and no lock fd (9).
  (cd "$d" && exec setsid bash -c "$(declare -f as_rmq rmq_home); RMQ_USER=$RMQ_USER; as_rmq env RABBITMQ_CONF_ENV_FILE='$d/rabbitmq-env.conf' '$RMQ_BIN/rabbitmq-server'" \
    </dev/null >>"$d/log/stdout.log" 2>&1 9>&-) &
  echo $! >"$d/launcher.pid"
}

rmq_wait_up() { # n
  local n=$1 d="$RDIR/n$1" rc=0
  # shellcheck disable=SC2317
  up() { rmq_up "$n"; }
  # shellcheck disable=SC2317
  alive() { rmq_launcher_alive "$n" || rmq_running "$n"; }
  wait_until "rabbitmq node $n" up alive || rc=$?
  if ((rc)); then
    ((rc == 2)) && say "rabbitmq: $(rnode "$n") exited during start" ||
      say "rabbitmq: $(rnode "$n") not up within ${TIMEOUT}s"
    tail_log "$d/log/stdout.log" "$d/log/$(rnode "$n").log"
    return 1
  fi
}

# Running cluster members as node n's management API sees them.
rmq_running_members() { # n
  curl -sf -m 5 -u guest:guest "http://127.0.0.1:$(rport MGMT "$1")/api/nodes?columns=name,running" 2>/dev/null |
    grep -o '"running":true' | wc -l
}

rmq_is_member() { # n: node n is a running member as node 1 sees it
  curl -sf -m 5 -u guest:guest "http://127.0.0.1:$(rport MGMT 1)/api/nodes?columns=name,running" 2>/dev/null |
    tr '}' '\n' | grep -q "\"name\":\"$(rnode "$1")\",\"running\":true"
}

rmq_paused() { local pid && pid="$(rmq_pid "$1")" && [[ -n $pid && $(pid_state "$pid") == T ]]; }

rmq_healthy() { # every node not held down is up, and they all see each other
  [[ -s $RDIR/ports.env && -e $RDIR/formed ]] || return 1
  rmq_ports
  local i nodes
  nodes="$(free_nodes rabbitmq)"
  [[ -n $nodes ]] || return 1
  for i in $nodes; do rmq_up "$i" && ! rmq_paused "$i" || return 1; done
  [[ $(rmq_running_members "${nodes%% *}") == "$(wc -w <<<"$nodes")" ]]
}

rmq_wait_members() { # n: node n's management API lists every node of ours that runs as running
  local n=$1
  # shellcheck disable=SC2317
  all() {
    local i want=0
    for i in $(seq 1 $N); do if rmq_running "$i" && ! rmq_paused "$i"; then want=$((want + 1)); fi; done
    [[ $(rmq_running_members "$n") == "$want" ]]
  }
  wait_until "rabbitmq cluster" all || {
    say "rabbitmq: $(rnode "$n") does not see every running node as a running cluster member"
    ctl "$n" cluster_status >&2 || true
    return 1
  }
}

# A new cluster. Node 1 boots first; 2 and 3 boot once it is up and join it through classic_config
# peer discovery while they boot (cheaper than booting, stopping and joining them). They must not
# find node 1 half-booted: joining it before its feature flags are enabled fails their boot with
# schema_integrity_check_failed (table_attributes_mismatch), seen when all three booted at once.
rmq_form() {
  local i
  rmq_launch 1
  rmq_wait_up 1 || return 1
  for i in $(seq 2 $N); do rmq_launch "$i"; done
  for i in $(seq 2 $N); do rmq_wait_up "$i" || return 1; done
  for i in $(seq 2 $N); do
    rmq_is_member "$i" && continue
    # Peer discovery did not join it: join by hand.
    say "rabbitmq: joining $(rnode "$i") to $(rnode 1) (stop_app / join_cluster / start_app)"
    {
      ctl "$i" stop_app && ctl "$i" join_cluster "$(rnode 1)" && ctl "$i" start_app
    } >&2 || {
      tail_log "$RDIR/n$i/log/$(rnode "$i").log"
      say "rabbitmq: $(rnode "$i") could not join $(rnode 1)"
      return 1
    }
    rmq_wait_up "$i" || return 1
  done
  touch "$RDIR/formed"
}

rmq_start() {
  local t0=$SECONDS i
  rmq_preflight
  if rmq_healthy; then
    say "rabbitmq: cluster already up ($(rmq_urls))"
    return 0
  fi
  if [[ -d $RDIR && ! -e $RDIR/formed ]]; then
    rm -f "$RDIR"/n*/held
    say "rabbitmq: removing a cluster that never finished forming"
    rmq_stop_nodes
    rm -rf "$RDIR"
  fi
  rmq_ports
  if [[ ! -e $RDIR/formed ]]; then
    if ! rmq_form; then
      say "rabbitmq: forming the cluster failed; wiping the nodes' data and trying once more"
      rmq_stop_nodes
      rm -rf "$RDIR"/n[0-9]*
      rmq_form || die "rabbitmq: could not form the cluster (logs: $RDIR/n*/log)"
    fi
  else
    # An existing cluster: start whatever is down and not held, all at once (restarted nodes wait
    # for each other), and wake nodes whose pause is no longer held.
    local nodes
    nodes="$(free_nodes rabbitmq)"
    for i in $(seq 1 $N); do
      if [[ " "$nodes" " != *" $i "* ]]; then say "rabbitmq: leaving $(rnode "$i") alone:$(held_note rabbitmq "$i")"; fi
    done
    for i in $nodes; do
      if rmq_paused "$i"; then kill -CONT "$(rmq_pid "$i")"; fi
      rmq_running "$i" || rmq_launch "$i"
    done
    for i in $nodes; do rmq_wait_up "$i" || die "rabbitmq: $(rnode "$i") did not start"; done
  fi
  local first
  first="$(free_nodes rabbitmq)"
  rmq_wait_members "${first%% *}" || die "rabbitmq: cluster not formed"
  say "rabbitmq: $(free_nodes rabbitmq | wc -w) of $N nodes up in $((SECONDS - t0)) s: $(rmq_urls)"
}

# Stop the nodes given as pids (SIGTERM: a clean shutdown; SIGCONT first in case one is paused)
# and wait for the processes, not the pid files, which the servers remove early.
stop_pids() { # kind pid...
  local kind=$1 pid
  shift
  for pid in "$@"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    # shellcheck disable=SC2317
    gone() { ! pid_alive "$pid"; }
    wait_until "$kind pid $pid stop" gone || {
      say "$kind: pid $pid did not stop within ${TIMEOUT}s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    }
  done
}

rmq_stop_nodes() {
  [[ -d $RDIR ]] || return 0
  local i pid pids=()
  for i in $(seq 1 $N); do
    pid="$(rmq_pid "$i")"
    [[ -n $pid ]] || continue
    say "rabbitmq: stopping $(rnode "$i") (pid $pid)"
    pids+=("$pid")
  done
  stop_pids rabbitmq "${pids[@]}"
  # A node still booting has no pid file yet: end its whole session (setsid: pgid = launcher).
  for i in $(seq 1 $N); do
    if rmq_launcher_alive "$i"; then
      say "rabbitmq: killing what is left of $(rnode "$i") (process group $FILE_PID)"
      kill -KILL -- "-$FILE_PID" 2>/dev/null || true
    fi
  done
}

rmq_urls() {
  rmq_ports
  local i out=()
  for i in $(seq 1 $N); do out+=("amqp://guest:guest@127.0.0.1:$(rport AMQP "$i")"); done
  (IFS=, && echo "${out[*]}")
}

rmq_info() {
  rmq_ports
  local i sep=''
  printf '{"kind":"rabbitmq","nodes":['
  for i in $(seq 1 $N); do
    printf '%s{"name":"%s","url":"amqp://guest:guest@127.0.0.1:%s","managementUrl":"http://guest:guest@127.0.0.1:%s","prometheusUrl":"http://127.0.0.1:%s/metrics","pid":%s}' \
      "$sep" "$(rnode "$i")" "$(rport AMQP "$i")" "$(rport MGMT "$i")" "$(rport PROM "$i")" "$(rmq_pid "$i" | grep . || echo null)"
    sep=','
  done
  printf ']}\n'
}

rmq_status() {
  [[ -s $RDIR/ports.env ]] || {
    say "rabbitmq: not started"
    return 1
  }
  rmq_ports
  local i pid state ok=0
  for i in $(seq 1 $N); do
    pid="$(rmq_pid "$i")"
    if [[ -z $pid ]]; then
      state=stopped ok=1
    elif [[ $(pid_state "$pid") == T ]]; then
      state=paused ok=1
    elif rmq_up "$i"; then state=running; else state=starting ok=1; fi
    printf 'rabbitmq %-14s %-8s pid=%-7s amqp=%s management=%s prometheus=%s dist=%s%s\n' "$(rnode "$i")" "$state" "${pid:--}" \
      "$(rport AMQP "$i")" "$(rport MGMT "$i")" "$(rport PROM "$i")" "$(rport DIST "$i")" "$(held_note rabbitmq "$i")"
  done
  if port_open "$(rport MGMT 1)"; then printf 'rabbitmq running members seen by %s: %s\n' "$(rnode 1)" "$(rmq_running_members 1)"; fi
  return $ok
}

# ---------------------------------------------------------------------------------------- NATS

NDIR="$DIR/nats"
nname() { echo "$PREFIX$1"; }

nats_ports() {
  if [[ ! -s $NDIR/ports.env ]]; then
    mkdir -p "$NDIR"
    local i k tmp="$NDIR/ports.env.tmp"
    : >"$tmp"
    for i in $(seq 1 $N); do
      for k in CLIENT ROUTE MON; do free_port && echo "${k}_$i=$PORT" >>"$tmp"; done
    done
    mv "$tmp" "$NDIR/ports.env"
  fi
  # shellcheck disable=SC1091
  . "$NDIR/ports.env"
}

nats_find() { # sets NPID to node n's nats-server pid if it is alive and ours, else ''
  file_pid "$NDIR/n$1/nats.pid"
  NPID="$FILE_PID"
  if [[ -n $NPID ]] && ! { pid_alive "$NPID" && proc_has "$NPID" cmdline "$NDIR/n$1/data"; }; then NPID=''; fi
}
nats_pid() { nats_find "$1" && [[ -n $NPID ]] && echo "$NPID"; return 0; }
nats_running() { nats_find "$1" && [[ -n $NPID ]]; }
nats_jsz() { curl -sf -m 2 "http://127.0.0.1:$(rport MON "$1")/jsz" 2>/dev/null; }
nats_has_leader() { # node n knows a JetStream meta leader of a 3-node meta group
  local jsz
  jsz="$(nats_jsz "$1")" || return 1
  [[ $jsz =~ \"leader\":\ *\"$PREFIX[0-9]\" && $jsz =~ \"cluster_size\":\ *$N ]]
}
nats_up() { local c="CLIENT_$1" && port_open "${!c}" && nats_running "$1" && nats_has_leader "$1"; }

nats_launch() {
  local n=$1 d="$NDIR/n$1" i routes=()
  mkdir -p "$d/data"
  for i in $(seq 1 $N); do ((i == n)) || routes+=("nats://127.0.0.1:$(rport ROUTE "$i")"); done
  say "nats: starting $(nname "$n") (client $(rport CLIENT "$n"), cluster $(rport ROUTE "$n"), monitor $(rport MON "$n"))"
  rm -f "$d/nats.pid"
  (
    IFS=,
    exec setsid "$NATS_SERVER" -a 127.0.0.1 -p "$(rport CLIENT "$n")" -n "$(nname "$n")" \
      -js -sd "$d/data" -m "$(rport MON "$n")" \
      --cluster_name bkc -cluster "nats://127.0.0.1:$(rport ROUTE "$n")" -routes "${routes[*]}" \
      -l "$d/nats.log" -P "$d/nats.pid" </dev/null >>"$d/stdout.log" 2>&1 9>&-
  ) &
  echo $! >"$d/launcher.pid"
}

nats_wait_up() {
  local n=$1 d="$NDIR/n$1" rc=0
  # shellcheck disable=SC2317
  up() { nats_up "$n"; }
  # shellcheck disable=SC2317
  alive() { { file_pid "$d/launcher.pid" && pid_alive "$FILE_PID"; } || nats_running "$n"; }
  wait_until "nats node $n" up alive || rc=$?
  if ((rc)); then
    ((rc == 2)) && say "nats: $(nname "$n") exited during start" ||
      say "nats: $(nname "$n") has no JetStream meta leader within ${TIMEOUT}s"
    tail_log "$d/stdout.log" "$d/nats.log"
    return 1
  fi
}

nats_paused() { local pid && pid="$(nats_pid "$1")" && [[ -n $pid && $(pid_state "$pid") == T ]]; }

nats_healthy() { # every node not held down is up and knows the meta leader
  [[ -s $NDIR/ports.env ]] || return 1
  nats_ports
  local i nodes
  nodes="$(free_nodes nats)"
  [[ -n $nodes ]] || return 1
  for i in $nodes; do nats_up "$i" || return 1; done
}

nats_preflight() {
  [[ -x $NATS_SERVER ]] || die "nats-server not found (set BK_NATS_SERVER)"
  command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
}

nats_start() {
  local t0=$SECONDS i
  nats_preflight
  if nats_healthy; then
    say "nats: cluster already up ($(nats_urls))"
    return 0
  fi
  nats_ports
  local nodes
  nodes="$(free_nodes nats)"
  for i in $(seq 1 $N); do
    if [[ " "$nodes" " != *" $i "* ]]; then say "nats: leaving $(nname "$i") alone:$(held_note nats "$i")"; fi
  done
  for i in $nodes; do
    if nats_paused "$i"; then kill -CONT "$(nats_pid "$i")"; fi
    nats_running "$i" || nats_launch "$i"
  done
  for i in $nodes; do nats_wait_up "$i" || die "nats: $(nname "$i") did not start"; done
  say "nats: $(wc -w <<<"$nodes") of $N nodes up with a JetStream meta leader in $((SECONDS - t0)) s: $(nats_urls)"
}

nats_stop_nodes() {
  [[ -d $NDIR ]] || return 0
  local i pid pids=()
  for i in $(seq 1 $N); do
    pid="$(nats_pid "$i")"
    [[ -n $pid ]] || continue
    say "nats: stopping $(nname "$i") (pid $pid)"
    pids+=("$pid")
  done
  stop_pids nats "${pids[@]}"
}

nats_urls() {
  nats_ports
  local i out=()
  for i in $(seq 1 $N); do out+=("nats://127.0.0.1:$(rport CLIENT "$i")"); done
  (IFS=, && echo "${out[*]}")
}

nats_info() {
  nats_ports
  local i sep=''
  printf '{"kind":"nats","nodes":['
  for i in $(seq 1 $N); do
    printf '%s{"name":"%s","url":"nats://127.0.0.1:%s","monitorUrl":"http://127.0.0.1:%s","pid":%s}' \
      "$sep" "$(nname "$i")" "$(rport CLIENT "$i")" "$(rport MON "$i")" "$(nats_pid "$i" | grep . || echo null)"
    sep=','
  done
  printf ']}\n'
}

nats_status() {
  [[ -s $NDIR/ports.env ]] || {
    say "nats: not started"
    return 1
  }
  nats_ports
  local i pid state ok=0 leader
  for i in $(seq 1 $N); do
    pid="$(nats_pid "$i")"
    leader=''
    if [[ -z $pid ]]; then
      state=stopped ok=1
    elif [[ $(pid_state "$pid") == T ]]; then
      state=paused ok=1
    elif nats_up "$i"; then
      state=running
      leader="$(nats_jsz "$i" | grep -o '"leader": *"[^"]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/')"
    else state=no-meta-leader ok=1; fi
    printf 'nats     %-14s %-8s pid=%-7s client=%s cluster=%s monitor=%s%s%s\n' "$(nname "$i")" "$state" "${pid:--}" \
      "$(rport CLIENT "$i")" "$(rport ROUTE "$i")" "$(rport MON "$i")" "${leader:+ meta-leader=$leader}" "$(held_note nats "$i")"
  done
  return $ok
}

# ---------------------------------------------------------------------------------------- nodes

node_pid() { # kind n
  if [[ $1 == rabbitmq ]]; then rmq_pid "$2"; else nats_pid "$2"; fi
}

kill_node() { # kind n
  local pid
  [[ -s $DIR/$1/ports.env ]] || die "$1: cluster not started"
  if [[ $1 == rabbitmq ]]; then rmq_ports; else nats_ports; fi
  pid="$(node_pid "$1" "$2")"
  [[ -n $pid ]] || die "$1: node $2 is not running"
  say "$1: kill -9 node $2 (pid $pid); held down until start-node"
  hold "$1" "$2" kill
  kill -KILL "$pid"
  # shellcheck disable=SC2317
  gone() { ! pid_alive "$pid"; }
  wait_until "$1 node $2 gone" gone || die "$1: pid $pid still alive"
}

start_node() { # kind n
  local t0=$SECONDS
  [[ -s $DIR/$1/ports.env ]] || die "$1: cluster not started (use: start $1)"
  release "$1" "$2"
  if [[ $1 == rabbitmq ]]; then
    rmq_preflight
    rmq_ports
    if rmq_paused "$2"; then kill -CONT "$(rmq_pid "$2")"; fi
    if ! rmq_running "$2"; then rmq_launch "$2"; fi
    rmq_wait_up "$2" || die "rabbitmq: $(rnode "$2") did not start"
    rmq_wait_members "$2" || die "rabbitmq: $(rnode "$2") did not rejoin"
  else
    nats_preflight
    nats_ports
    if nats_paused "$2"; then kill -CONT "$(nats_pid "$2")"; fi
    if ! nats_running "$2"; then nats_launch "$2"; fi
    nats_wait_up "$2" || die "nats: $(nname "$2") did not start"
  fi
  say "$1: node $2 up in $((SECONDS - t0)) s"
}

signal_node() { # kind n signal
  local pid
  [[ -s $DIR/$1/ports.env ]] || die "$1: cluster not started"
  if [[ $1 == rabbitmq ]]; then rmq_ports; else nats_ports; fi
  pid="$(node_pid "$1" "$2")"
  [[ -n $pid ]] || die "$1: node $2 is not running"
  if [[ $3 == STOP ]]; then
    say "$1: kill -STOP node $2 (pid $pid); held paused until resume"
    hold "$1" "$2" pause
  else
    say "$1: kill -CONT node $2 (pid $pid)"
    release "$1" "$2"
  fi
  kill "-$3" "$pid"
}

kinds() { # rabbitmq|nats|all -> list
  case "${1:-}" in
  all) echo rabbitmq nats ;;
  rabbitmq | nats) echo "$1" ;;
  *) die "unknown kind '${1:-}' (rabbitmq, nats or all)" ;;
  esac
}

# ---------------------------------------------------------------------------------------- main

cmd="${1:-}"
shift || true
case "$cmd" in
start)
  ks="$(kinds "${1:-}")"
  lock
  for k in $ks; do if [[ $k == rabbitmq ]]; then rmq_start; else nats_start; fi; done
  ;;
stop | clean)
  ks="$(kinds "${1:-}")"
  lock
  for k in $ks; do
    if [[ $k == rabbitmq ]]; then rmq_stop_nodes; else nats_stop_nodes; fi
    rm -f "$DIR/$k"/n*/held
    if [[ $cmd == clean ]]; then
      say "$k: removing $DIR/$k"
      rm -rf "${DIR:?}/$k"
    fi
  done
  ;;
status)
  ks="$(kinds "${1:-all}")"
  rc=0
  for k in $ks; do if [[ $k == rabbitmq ]]; then rmq_status || rc=1; else nats_status || rc=1; fi; done
  exit $rc
  ;;
urls | info)
  check_kind "${1:-}"
  [[ -s $DIR/$1/ports.env ]] || die "$1: cluster not started (use: start $1)"
  if [[ $1 == rabbitmq ]]; then "rmq_$cmd"; else "nats_$cmd"; fi
  ;;
kill)
  check_kind "${1:-}" && check_node "${2:-}"
  lock
  kill_node "$1" "$2"
  ;;
start-node)
  check_kind "${1:-}" && check_node "${2:-}"
  lock
  start_node "$1" "$2"
  ;;
pause | resume)
  check_kind "${1:-}" && check_node "${2:-}"
  lock
  signal_node "$1" "$2" "$([[ $cmd == pause ]] && echo STOP || echo CONT)"
  ;;
ctl)
  check_node "${1:-}"
  n=$1
  shift
  ctl "$n" "$@"
  ;;
-h | --help | help) usage ;;
*) usage ;;
esac
