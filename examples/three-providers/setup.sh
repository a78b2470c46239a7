#!/usr/bin/env sh
# Writes three development providers (a.example, b.example, c.example) into this directory with
# `mimi-ds init`: a development CA and certificates in pki/, one provider.toml each. The files name
# their paths from the repository root, so start the providers from there (README.md here).
# BASE_PORT=9443 ./setup.sh moves them to 9443, 9444, 9445 (default 8443).
set -eu
cd "$(dirname "$0")/../.."
# --force: this directory already holds this script and the README; init leaves both alone, rewrites
# pki/ and the provider.toml files, and keeps the providers' data directories.
exec cargo run --release -p mimi-ds -- init --domains a.example,b.example,c.example \
  --out examples/three-providers --base-port "${BASE_PORT:-8443}" --force
