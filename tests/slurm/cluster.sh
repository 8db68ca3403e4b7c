#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for the test suite (Debian's slurmctld, slurmd,
# munge). Usage: cluster.sh start|stop|status|env STATE_DIR
#   start   write the configs into STATE_DIR and start munged, slurmctld and slurmd (a no-op for
#           each daemon whose PID file names a live process)
#   stop    stop the daemons whose PID files are in STATE_DIR, and nothing else
#   env     print the environment (SLURM_CONF) that clients need
# The node advertises one fake GPU (gres gpu:1 backed by /dev/null). Ports, configs, state and
# logs are private to STATE_DIR; munged uses its default socket, and slurmd runs configless and
# caches the config under /run/slurm, where client commands inside jobs find it.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop|status|env STATE_DIR}
state=$(mkdir -p "${2:?state dir}" && cd "$2" && pwd)
conf="$state/etc/slurm.conf"
ctld_port=${SLURMCTLD_PORT:-16817}
d_port=${SLURMD_PORT:-16818}

alive() {  # alive PIDFILE: the process named by the PID file runs (and is no zombie)
  [ -s "$1" ] || return 1
  local pid state_letter
  pid=$(cat "$1")
  [ -d "/proc/$pid" ] || return 1
  state_letter=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
  [ "$state_letter" != Z ] && [ "$state_letter" != X ]
}

wait_for() {  # wait_for SECONDS COMMAND...: retry until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

munge_answers() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

write_configs() {
  mkdir -p "$state"/{etc,munge,ctld,spool,log}
  chmod 700 "$state/munge"
  [ -s "$state/munge/munge.key" ] || { dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none; }
  chmod 400 "$state/munge/munge.key"
  read -r cpus mem < <(slurmd -C | awk '{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="CPUs")c=kv[2]; if(kv[1]=="RealMemory")m=kv[2]}} END{print c, m}')
  mem=$((mem > 2048 ? mem - 1024 : mem / 2))  # headroom for the OS
  # a group job of a shard's CPU stages asks for 3 CPUs: a 2-core machine advertises 4
  # (config_overrides keeps slurmd from draining a node that has fewer than configured)
  cpus=$((cpus < 4 ? 4 : cpus))
  cat > "$conf" <<CONF
ClusterName=enfopath-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
EnforcePartLimits=ALL
MailProg=/bin/true
MinJobAge=900
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldParameters=enable_configless
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  echo "NodeName=localhost Name=gpu File=/dev/null" > "$state/etc/gres.conf"
}

start() {
  write_configs
  export SLURM_CONF="$conf"
  # munge on its default socket (a configless slurmd authenticates before it has a config);
  # one that already answers there is used as it is, and never stopped by this script
  if ! alive "$state/munged.pid" && ! munge_answers; then
    mkdir -p /run/munge
    munged --force --key-file="$state/munge/munge.key" --pid-file="$state/munged.pid" \
      --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed"
    wait_for 10 munge_answers
  fi
  if ! alive "$state/slurmctld.pid"; then
    slurmctld -f "$conf" -i
    wait_for 30 scontrol ping
  fi
  if ! alive "$state/slurmd.pid"; then
    # configless: job steps (whose SLURM_* environment the executor strips) find the config
    # through slurmd's cache instead of SLURM_CONF
    slurmd --conf-server "127.0.0.1:$ctld_port" -N localhost
  fi
  wait_for 60 sh -c "sinfo -h -N -o %T | grep -Eq '^(idle|mixed|allocated)'"
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
}

stop_one() {  # stop_one NAME: TERM, then KILL, the daemon of NAME.pid
  local pidfile="$state/$1.pid" pid
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  wait_for 15 sh -c "! [ -d /proc/$pid ] || grep -q '^State:.*Z' /proc/$pid/status" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "$cmd" in
  start) start ;;
  stop) for d in slurmd slurmctld munged; do stop_one "$d"; done ;;
  status) for d in munged slurmctld slurmd; do
            if alive "$state/$d.pid"; then echo "$d running"; else echo "$d stopped"; fi
          done ;;
  env) echo "SLURM_CONF=$conf" ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
