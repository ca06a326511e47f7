#!/usr/bin/env bash
# Build mediasoup's worker offline against Debian's libraries.
#
# Usage: scripts/mediasoup/build-worker.sh VERSION OUT_BINARY
#
# Sources: node_modules/mediasoup/worker of the project (when it is VERSION),
# else the npm tarball (npm pack mediasoup@VERSION). Meson and ninja come from
# pip (cached). Every subproject mediasoup would download is replaced by a
# shim from scripts/mediasoup/subprojects/ that wraps the Debian library; the
# libsrtp "3.0-beta" API comes from scripts/mediasoup/srtp-adapter/; the
# DtlsTransport kTLS fix is applied from scripts/mediasoup/patches/.
# Needs the packages in scripts/mediasoup/apt-packages.txt. Writes the
# stripped binary to OUT_BINARY (via a temporary file and a rename).
#
# Environment: CONFD_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/confd),
# PYTHON (default python3), CONFD_MEDIASOUP_KEEP_BUILD=1 keeps the build dir,
# CONFD_MEDIASOUP_JOBS (default: number of CPUs).
set -euo pipefail

log() { printf 'confd: mediasoup worker build: %s\n' "$*"; }
die() { printf 'confd: mediasoup worker build: ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 VERSION OUT_BINARY"
VERSION=$1
OUT_BINARY=$2
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad version '$VERSION'"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_ROOT=${CONFD_PROJECT_ROOT:-$PWD}
CACHE_ROOT=${CONFD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/confd}
PYTHON=${PYTHON:-python3}
MESON_VERSION=1.12.1
NINJA_VERSION=1.13.2
JOBS=${CONFD_MEDIASOUP_JOBS:-$(nproc 2>/dev/null || echo 2)}

# --- prerequisites --------------------------------------------------------
missing=()
for tool in cc c++ pkg-config patch strip flatc "$PYTHON"; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
for pc in libuv libssl libcrypto libsrtp2 usrsctp flatbuffers absl_flat_hash_map; do
	pkg-config --exists "$pc" 2>/dev/null || missing+=("pkg-config:$pc")
done
[ -f /usr/include/srtp2/srtp.h ] || missing+=("/usr/include/srtp2/srtp.h")
if [ ${#missing[@]} -gt 0 ]; then
	die "missing build prerequisites: ${missing[*]}. Install them with:
  apt-get install -y \$(cat $SCRIPT_DIR/apt-packages.txt)"
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 \
	|| die "'$PYTHON -m pip' does not work: install python3-pip (apt-packages.txt)"

# --- work dir -------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/confd-mediasoup-build.XXXXXX")
cleanup() {
	if [ "${CONFD_MEDIASOUP_KEEP_BUILD:-0}" = 1 ]; then
		log "kept build dir $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# --- sources --------------------------------------------------------------
SRC=$WORK/worker
pkg_json=$PROJECT_ROOT/node_modules/mediasoup/package.json
installed=""
if [ -f "$pkg_json" ]; then
	installed=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg_json" | head -n1)
fi
if [ "$installed" = "$VERSION" ] && [ -f "$PROJECT_ROOT/node_modules/mediasoup/worker/meson.build" ]; then
	log "sources: $PROJECT_ROOT/node_modules/mediasoup/worker ($VERSION)"
	mkdir -p "$SRC"
	# Copy the sources only, never a previous build output or download.
	tar -C "$PROJECT_ROOT/node_modules/mediasoup/worker" \
		--exclude=./out --exclude=./pip_invoke --exclude=./prebuild \
		--exclude=./subprojects/packagecache -cf - . | tar -C "$SRC" -xf -
else
	log "sources: npm pack mediasoup@$VERSION"
	command -v npm >/dev/null 2>&1 || die "npm not found (needed to fetch mediasoup@$VERSION sources)"
	(cd "$WORK" && npm pack --silent "mediasoup@$VERSION" >/dev/null) \
		|| die "npm pack mediasoup@$VERSION failed"
	tar -C "$WORK" -xzf "$WORK/mediasoup-$VERSION.tgz"
	mv "$WORK/package/worker" "$SRC"
fi
[ -f "$SRC/meson.build" ] || die "no worker/meson.build in the mediasoup sources"

# --- meson + ninja (pip, cached) ------------------------------------------
TOOLS=$CACHE_ROOT/pip-tools/meson-$MESON_VERSION-ninja-$NINJA_VERSION
if [ ! -x "$TOOLS/bin/meson" ] || [ ! -x "$TOOLS/bin/ninja" ]; then
	log "installing meson==$MESON_VERSION ninja==$NINJA_VERSION with pip into $TOOLS"
	mkdir -p "$(dirname "$TOOLS")"
	tmp_tools=$(mktemp -d "$TOOLS.tmp.XXXXXX")
	if ! "$PYTHON" -m pip install --disable-pip-version-check --no-input --no-warn-script-location \
		--retries 1 --timeout 15 --target "$tmp_tools" \
		"meson==$MESON_VERSION" "ninja==$NINJA_VERSION"; then
		rm -rf "$tmp_tools"
		die "pip could not install meson==$MESON_VERSION ninja==$NINJA_VERSION"
	fi
	rm -rf "$TOOLS"
	mv "$tmp_tools" "$TOOLS" 2>/dev/null || rm -rf "$tmp_tools" # another build won the race
fi
export PYTHONPATH=$TOOLS${PYTHONPATH:+:$PYTHONPATH}
export PATH=$TOOLS/bin:$PATH
log "meson $(meson --version), ninja $(ninja --version)"

# --- subproject shims -----------------------------------------------------
shimmed=0
for wrap in "$SRC"/subprojects/*.wrap; do
	name=$(basename "$wrap" .wrap)
	dir=$(sed -n 's/^[[:space:]]*directory[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' "$wrap" | head -n1)
	[ -n "$dir" ] || dir=$name
	case $dir in */* | .* | "") die "unexpected directory '$dir' in $wrap" ;; esac
	if [ -d "$SCRIPT_DIR/subprojects/$name" ]; then
		rm -rf "${SRC:?}/subprojects/$dir"
		mkdir -p "$SRC/subprojects/$dir"
		cp -R "$SCRIPT_DIR/subprojects/$name/." "$SRC/subprojects/$dir/"
		shimmed=$((shimmed + 1))
		log "subproject $name -> subprojects/$dir (Debian shim)"
	fi
done
for required in libuv openssl libsrtp3 usrsctp abseil-cpp flatbuffers; do
	[ -f "$SRC/subprojects/$required.wrap" ] \
		|| die "mediasoup@$VERSION has no subprojects/$required.wrap: this version is not supported by these shims"
done
srtp_dir=$(sed -n 's/^[[:space:]]*directory[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' \
	"$SRC/subprojects/libsrtp3.wrap" | head -n1)
mkdir -p "$SRC/subprojects/$srtp_dir/include"
cp "$SCRIPT_DIR/srtp-adapter/include/srtp.h" "$SRC/subprojects/$srtp_dir/include/srtp.h"

# --- DtlsTransport kTLS fix -----------------------------------------------
DTLS=$SRC/src/RTC/DtlsTransport.cpp
patch --batch --forward --no-backup-if-mismatch -p1 -d "$SRC" \
	< "$SCRIPT_DIR/patches/dtls-bio-callback-return-flag.patch" \
	|| die "the DtlsTransport kTLS patch does not apply to mediasoup@$VERSION"
fixed=$(grep -c 'const long resultOfcallback = (operationType & BIO_CB_RETURN) ?' "$DTLS" || true)
unfixed=$(grep -c 'operationType == BIO_CB_RETURN' "$DTLS" || true)
[ "$fixed" = 1 ] && [ "$unfixed" = 0 ] \
	|| die "DtlsTransport kTLS patch check failed (fixed=$fixed, unfixed=$unfixed)"
log "DtlsTransport kTLS fix applied"

# --- build ----------------------------------------------------------------
BUILD=$WORK/build
start=$(date +%s)
meson setup "$BUILD" "$SRC" \
	--buildtype release -Db_ndebug=true \
	--wrap-mode=nodownload -Dms_disable_liburing=true
meson compile -C "$BUILD" -j "$JOBS" flatbuffers-generator
meson compile -C "$BUILD" -j "$JOBS" mediasoup-worker
log "compiled in $(($(date +%s) - start)) s"

BIN=$BUILD/mediasoup-worker
[ -x "$BIN" ] || die "the build produced no mediasoup-worker binary"
strip "$BIN"

# The worker exits with 41 when started without MEDIASOUP_VERSION: that proves
# it loads (all shared libraries present) without starting anything.
set +e
env -i "$BIN" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 41 ] || die "the built worker does not run (exit $rc); ldd: $(ldd "$BIN" 2>&1 | grep 'not found' || true)"

mkdir -p "$(dirname "$OUT_BINARY")"
tmp_out=$(mktemp "$OUT_BINARY.tmp.XXXXXX")
cp "$BIN" "$tmp_out"
chmod 755 "$tmp_out"
mv -f "$tmp_out" "$OUT_BINARY"
log "wrote $OUT_BINARY ($(du -k "$OUT_BINARY" | cut -f1) KiB)"
