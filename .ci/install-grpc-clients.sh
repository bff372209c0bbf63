#!/usr/bin/env bash
# Installs and builds the real-client programs that .ci/grpc-client-check.sh runs, each from its
# registry, unmodified: nacos-sdk-python 3.2.0 (PyPI) into .venv-nacos3, nacos-sdk 0.8.3
# (crates.io), com.alibaba.nacos:nacos-client 2.x and 3.x (Maven Central), nacos-sdk-go/v2 (Go
# module proxy). Outputs go to .venv-nacos3/ and target/grpc-clients/ (both ignored by git).
# Usage: .ci/install-grpc-clients.sh [python] [rust] [java] [java3] [go]   (default: all)
# Each step is timed; a failed step is reported and the others still run; exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(python rust java java3 go)
out=target/grpc-clients
mkdir -p "$out"
failed=()

step_python() {
  if [ -x .venv-nacos3/bin/python ] && .venv-nacos3/bin/python -c \
      'import importlib.metadata as m, sys; sys.exit(m.version("nacos-sdk-python") != "3.2.0")' 2>/dev/null; then
    echo "already installed"; return 0
  fi
  python3 -m venv .venv-nacos3 &&
    .venv-nacos3/bin/pip install -q --disable-pip-version-check 'nacos-sdk-python==3.2.0'
}

step_rust() {
  nice cargo build --release --locked -q --manifest-path clients/rust/Cargo.toml \
    --target-dir "$out/rust"
}

# Maven: offline first (nothing to fetch once ~/.m2 holds it all), else resolve online.
mvn_package() {
  mvn -B -q -o -Dstyle.color=never -f clients/java/pom.xml package "$@" >/dev/null 2>&1 ||
    nice mvn -B -q -Dstyle.color=never -f clients/java/pom.xml package "$@"
}
step_java() { mvn_package; }
step_java3() { mvn_package -Pnacos3; }

step_go() {
  (cd clients/go && nice go build -mod=readonly -o ../../"$out"/go-check .)
}

for s in "${steps[@]}"; do
  case "$s" in python|rust|java|java3|go) ;; *) echo "unknown step $s"; exit 2 ;; esac
  echo "== install grpc client: $s"
  t0=$(date +%s)
  if "step_$s"; then
    echo "== $s done in $(( $(date +%s) - t0 )) s"
  else
    echo "== $s FAILED after $(( $(date +%s) - t0 )) s"
    failed+=("$s")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
