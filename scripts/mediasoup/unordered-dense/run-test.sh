#!/usr/bin/env bash
# Build and run the tests of the confd ankerl::unordered_dense shim
# (include/ankerl/unordered_dense.h) with the system C++ compiler, as C++20
# (the worker) and C++17 (the worker's deps/libwebrtc includes worker headers
# that use the shim), with ASan/UBSan. Exits non-zero on failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CXX=${CXX:-c++}
command -v "$CXX" >/dev/null 2>&1 || { echo "unordered-dense: no C++ compiler ($CXX); apt-get install build-essential" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/confd-unordered-dense-test.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
for std in c++20 c++17; do
	echo "unordered-dense: -std=$std"
	"$CXX" -std=$std -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=all \
		-I"$HERE/include" "$HERE/test.cpp" -o "$OUT/test-$std"
	"$OUT/test-$std"
done
