#!/usr/bin/env bash
# Real Nacos 2.x SDKs (Python, Rust, Java 2.x/3.x, Go; programs in clients/) over gRPC against a
# fresh 3-member cluster of the given server, plus v1-API checks on every member that closed,
# SIGKILLed and failed-over clients are handled. The logic is in grpc_client_check.py beside
# this file (`--help` there). Examples:
#   .ci/grpc-client-check.sh target/release/distrod
#   .ci/grpc-client-check.sh target/release/distrod-glommio --shards 2
#   .ci/grpc-client-check.sh --servers 127.0.0.1:8848 --sdks python,go   (a running server)
#   .ci/grpc-client-check.sh --rnacos /path/to/rnacos --members 2        (development)
# Build the programs first: .ci/install-grpc-clients.sh
set -euo pipefail
exec python3 "$(dirname "$0")/grpc_client_check.py" "$@"
