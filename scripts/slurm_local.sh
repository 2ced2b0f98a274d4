#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests (tests/test_slurm.py) and CI:
#   scripts/slurm_local.sh start    install slurm-wlm and munge when missing (Debian/Ubuntu, as root),
#                                   write a slurm.conf for this node (its cores and memory), start
#                                   munged, slurmctld and slurmd; prints the SLURM_CONF to export
#   scripts/slurm_local.sh stop     stop them
#   scripts/slurm_local.sh status   exit 0 when the controller answers
# State lives in $SLURM_LOCAL_DIR (default /tmp/course-slurm). Needs root (the daemons run as root).
set -euo pipefail
DIR=${SLURM_LOCAL_DIR:-/tmp/course-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

start() {
  if [ "$(id -u)" != 0 ]; then echo "slurm_local.sh: needs root (the Slurm daemons run as root)" >&2; exit 3; fi
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { echo "slurm_local.sh: no apt-get to install slurm-wlm and munge" >&2; exit 3; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  mkdir -p "$DIR/state" "$DIR/spool" /etc/munge /var/log/munge /run/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown -R munge:munge /etc/munge /var/log/munge /run/munge /var/lib/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || /usr/sbin/munged --force
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) - 1024 ))
  cat > "$CONF" <<CONF
ClusterName=course
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=5
OverTimeLimit=0
MinJobAge=3600
MessageTimeout=30
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=course Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  stop_daemons
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 30); do
    if scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|alloc"; then
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 1
  done
  echo "slurm_local.sh: the controller did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
  exit 1
}

stop_daemons() {
  for pid in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
    [ -s "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  sleep 1
}

case "${1:-}" in
  start) start ;;
  stop) stop_daemons ;;
  status) scontrol ping 2>/dev/null | grep -q UP ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
