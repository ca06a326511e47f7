#!/usr/bin/env bash
# Build and run the libsrtp adapter tests against Debian's libsrtp2
# (apt: libsrtp2-dev, build-essential, pkg-config). Exits non-zero on failure.
# Built with ASan/UBSan so an out-of-bounds access fails the run too. Built
# and run twice: libsrtp 3.0 API (mediasoup 3.2x) and, with
# CONFD_SRTP_ADAPTER_STRUCT_POLICY=1, the 3.0-beta API (mediasoup 3.16-3.19).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CXX=${CXX:-c++}
pkg-config --exists libsrtp2 || { echo "srtp-adapter: libsrtp2-dev is not installed (see scripts/mediasoup/apt-packages.txt)" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/confd-srtp-adapter-test.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
for level in 3.0 3.0-beta; do
	define=()
	[ "$level" = 3.0-beta ] && define=(-DCONFD_SRTP_ADAPTER_STRUCT_POLICY=1)
	bin=$OUT/srtp-adapter-test-$level
	# shellcheck disable=SC2046
	"$CXX" -std=c++20 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=all \
		"${define[@]}" -I"$HERE/include" "$HERE/test.cpp" -o "$bin" \
		$(pkg-config --cflags --libs libsrtp2)
	if ! ldd "$bin" | grep 'libsrtp2\.so' >/dev/null; then
		echo "srtp-adapter: the test binary is not linked against Debian's libsrtp2" >&2
		exit 1
	fi
	echo "srtp-adapter: libsrtp $level API level, linked against $(ldd "$bin" | awk '/libsrtp2/ {print $3}')"
	"$bin"
done
