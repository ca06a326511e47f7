#!/usr/bin/env bash
# Build and run the libsrtp adapter tests against Debian's libsrtp2
# (apt: libsrtp2-dev, build-essential, pkg-config). Exits non-zero on failure.
# Built with ASan/UBSan so an out-of-bounds access fails the run too.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CXX=${CXX:-c++}
pkg-config --exists libsrtp2 || { echo "srtp-adapter: libsrtp2-dev is not installed (see scripts/mediasoup/apt-packages.txt)" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/confd-srtp-adapter-test.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
# shellcheck disable=SC2046
"$CXX" -std=c++20 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-I"$HERE/include" "$HERE/test.cpp" -o "$OUT/srtp-adapter-test" \
	$(pkg-config --cflags --libs libsrtp2)
if ! ldd "$OUT/srtp-adapter-test" | grep 'libsrtp2\.so' >/dev/null; then
	echo "srtp-adapter: the test binary is not linked against Debian's libsrtp2" >&2
	exit 1
fi
echo "srtp-adapter: linked against $(ldd "$OUT/srtp-adapter-test" | awk '/libsrtp2/ {print $3}')"
"$OUT/srtp-adapter-test"
