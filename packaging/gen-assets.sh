#!/usr/bin/env bash
# Writes the .deb's generated assets (Cargo.toml's [package.metadata.deb]
# lists them under target/assets/): the bash, zsh and fish completions and
# the manual page, each printed by the binary itself. Run it between the
# release build and `cargo deb --no-build`:
#
#   cargo build --release --locked && packaging/gen-assets.sh && cargo deb --no-build
#
#   packaging/gen-assets.sh [BINARY] [OUTDIR]
#     BINARY  default: ${CARGO_TARGET_DIR:-target}/release/machinist
#     OUTDIR  default: target/assets (cargo-deb reads it relative to the crate,
#             whatever CARGO_TARGET_DIR is)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-${CARGO_TARGET_DIR:-target}/release/machinist}"
out="${2:-target/assets}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first" >&2; exit 1; }
mkdir -p "$out"
"$bin" completions bash >"$out/machinist.bash"
"$bin" completions zsh >"$out/_machinist"
"$bin" completions fish >"$out/machinist.fish"
"$bin" man >"$out/machinist.1"
echo "wrote $out/machinist.bash, _machinist, machinist.fish, machinist.1"
