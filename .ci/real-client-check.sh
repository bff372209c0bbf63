#!/usr/bin/env bash
# Runs the unmodified Nacos Python SDK check (../shared/clients/py_client_check.py) against a
# fresh server. Usage: .ci/real-client-check.sh PYTHON [extra env for the check, e.g. NACOS_CHECK_EXPIRY=1]
# SERVER=distrod (default) or SERVER=distrod-glommio (run with --shards ${SHARDS:-2}).
# AUTH=1: the server authenticates clients (.ci/auth/users) and the check logs in; AUTH=denied:
# the password is wrong and the SDK must get a 403.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1
shift
check=../shared/clients/py_client_check.py
[ -f "$check" ] || { echo "missing $check (shared/ must sit beside the repo)"; exit 1; }
server=${SERVER:-distrod}
case "$server" in
  distrod) package=distro-mio; extra=() ;;
  distrod-glommio) package=distro-glommio; extra=(--shards "${SHARDS:-2}") ;;
  *) echo "unknown SERVER=$server"; exit 1 ;;
esac
cargo build --release -q -p "$package"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
runner=("$check")
case "${AUTH:-}" in
  1) extra+=(--auth-users-file .ci/auth/users); runner=(.ci/py-auth-check.py "$check")
     set -- "$@" NACOS_USERNAME=nacos NACOS_PASSWORD=nacos-check-password ;;
  denied) extra+=(--auth-users-file .ci/auth/users); runner=(.ci/py-auth-check.py "$check")
     set -- "$@" NACOS_USERNAME=nacos NACOS_PASSWORD=wrong NACOS_EXPECT_DENIED=1 ;;
esac
"./target/release/$server" "${extra[@]}" --http "127.0.0.1:$port" --native 127.0.0.1:0 --peer 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "distrod listening" "$log" && break
  sleep 0.1
done
grep -q "distrod listening" "$log" || { cat "$log"; echo "$server did not start"; exit 1; }
env "$@" NACOS_ADDR="127.0.0.1:$port" "$python" "${runner[@]}"
kill -TERM $pid
wait $pid
echo "$server exited cleanly"
