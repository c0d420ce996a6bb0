# shellcheck shell=bash
# Sourced by the demo scripts: starts a standalone ZooKeeper (Debian's package) on a free
# loopback port with its data in "$1/zookeeper", and waits, bounded, until it answers.
# Sets `port` and `zk_pid`; the caller stops it (by that pid) and removes the directory.
start_local_zookeeper() {
  local work=$1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/zookeeper"
  cat > "$work/zookeeper.cfg" << CFG
tickTime=500
dataDir=$work/zookeeper
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,mntr
CFG
  local classpath=/usr/share/java/zookeeper.jar
  [ -f /usr/share/java/slf4j-simple.jar ] && classpath="$classpath:/usr/share/java/slf4j-simple.jar"
  java -Xmx128m -cp "$classpath" org.apache.zookeeper.server.ZooKeeperServerMain \
    "$work/zookeeper.cfg" > "$work/zookeeper.log" 2>&1 &
  zk_pid=$!
  for _ in $(seq 150); do
    if ! kill -0 "$zk_pid" 2> /dev/null; then
      echo "ZooKeeper exited; see $work/zookeeper.log" >&2
      return 1
    fi
    # Bounded: whatever else might answer on the port must not hang the demo.
    if timeout 2 bash -c "exec 3<> /dev/tcp/127.0.0.1/$port && echo ruok >&3 && [ \"\$(cat <&3)\" = imok ]" \
      2> /dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "ZooKeeper did not start within 30 s; see $work/zookeeper.log" >&2
  return 1
}
