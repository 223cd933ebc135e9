#!/usr/bin/env bash
# mpi_netns.sh — data-parallel training across "hosts" on one machine: two
# network namespaces (the hosts) with a veth each into a third that holds a
# bridge (the switch), addresses in a private /24 of their own; mpirun runs
# in host A and starts host B's daemon through a plm_rsh_agent that runs
# the command in B's namespace (`ip netns exec`, no ssh), each host with its
# own hostname (`unshare --uts`). TCP only on that subnet (pml ob1, btl
# tcp,self, btl_tcp_if_include and oob_tcp_if_include), so no byte can go
# through shared memory, loopback or the machine's own interfaces.
#   tests/mpi_netns.sh OUT.st CONVNET TRAIN-FLAGS...   (run as root)
# Exit 0 when the run succeeded and traffic crossed the veths (it prints
# the bytes host A's veth received); 77 when namespaces cannot be made
# here (not root, no ip/unshare): the caller reports a SKIP. Bounded: the
# job is killed after 120 s; the namespaces are removed on exit.
set -u
out=$1; convnet=$2; shift 2
[ "$(id -u)" = 0 ] || { echo "not root"; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null && command -v mpirun >/dev/null || { echo "no ip, unshare or mpirun"; exit 77; }
tag=cn$$
net=10.$((200 + $$ % 50)).$(( ($$ / 50) % 250 )).   # a private /24 per run
tmp=$(mktemp -d /tmp/cn_netns_XXXXXX)
cleanup() { for x in A B H; do ip netns del ${tag}$x 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add ${tag}H || { echo "cannot create a network namespace"; exit 77; }
ip -n ${tag}H link add br0 type bridge && ip -n ${tag}H link set br0 up || exit 1
i=1
for x in A B; do
  ip netns add ${tag}$x &&
  ip link add ${tag}v$x type veth peer name ${tag}b$x &&
  ip link set ${tag}v$x netns ${tag}$x && ip link set ${tag}b$x netns ${tag}H &&
  ip -n ${tag}H link set ${tag}b$x master br0 && ip -n ${tag}H link set ${tag}b$x up &&
  ip -n ${tag}$x addr add ${net}$i/24 dev ${tag}v$x && ip -n ${tag}$x link set ${tag}v$x up &&
  ip -n ${tag}$x link set lo up || { echo "setting up host $x failed"; exit 1; }
  i=$((i + 1))
done
cat > "$tmp/agent" <<AGENT
#!/bin/sh
# plm_rsh_agent: agent HOST COMMAND... runs COMMAND on HOST (its namespace)
host=\$1; shift
case "\$host" in
  ${net}1) ns=${tag}A; hn=${tag}-hostA;;
  ${net}2) ns=${tag}B; hn=${tag}-hostB;;
  *) echo "agent: unknown host \$host" >&2; exit 1;;
esac
exec ip netns exec \$ns unshare --uts sh -c "hostname \$hn; \$*"
AGENT
chmod +x "$tmp/agent"
printf '%s slots=1\n%s slots=1\n' ${net}1 ${net}2 > "$tmp/hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=""
for a in "$@"; do args="$args '$a'"; done
timeout -s KILL 120 ip netns exec ${tag}A unshare --uts sh -c "hostname ${tag}-hostA; exec mpirun --allow-run-as-root \
  --hostfile $tmp/hosts -np 2 --map-by node --mca plm_rsh_agent $tmp/agent --mca plm_rsh_no_tree_spawn 1 \
  --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include ${net}0/24 --mca oob_tcp_if_include ${net}0/24 \
  '$convnet' $args --save '$out'"
rc=$?
rx=$(ip -n ${tag}A -s link show ${tag}vA | awk '/RX:/ {getline; print $1; exit}')
echo "mpirun exit $rc; host A's veth received ${rx:-?} bytes"
[ $rc = 0 ] && [ "${rx:-0}" -gt 100000 ]
