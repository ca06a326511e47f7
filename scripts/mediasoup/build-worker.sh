#!/usr/bin/env bash
# Build mediasoup's worker offline against Debian's libraries.
#
# Usage: scripts/mediasoup/build-worker.sh VERSION OUT_BINARY
#
# Sources: node_modules/mediasoup/worker of the project (when it is VERSION),
# else the npm tarball (npm pack mediasoup@VERSION). Meson and ninja come from
# pip (cached). Every subproject mediasoup would download is replaced by a
# shim from scripts/mediasoup/subprojects/ that wraps the Debian library (or,
# for unordered_dense, the header in scripts/mediasoup/unordered-dense/); the
# libsrtp 3 API comes from scripts/mediasoup/srtp-adapter/ (API level picked
# from the sources: opaque policy for 3.2x, struct policy for 3.16-3.19); the
# DtlsTransport kTLS fix is applied from scripts/mediasoup/patches/.
# Verified with 3.19.22 and 3.27.1 (see README.md); another version either
# builds or stops with the subproject, patch or check that does not fit.
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
# (libusrsctp, needed up to 3.19 only, is checked once the sources are known.)
for pc in libuv libssl libcrypto libsrtp2 flatbuffers absl_flat_hash_map; do
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
# Wraps the worker never builds here: catch2 (its own tests, -Dms_build_tests),
# wingetopt (Windows), liburing (disabled with -Dms_disable_liburing, which
# the versions that have it offer).
NOT_NEEDED=" catch2 wingetopt liburing "
wrap_dir() {
	local d
	d=$(sed -n 's/^[[:space:]]*directory[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' "$1" | head -n1)
	[ -n "$d" ] || d=$(basename "$1" .wrap)
	case $d in */* | .* | "") die "unexpected directory '$d' in $1" ;; esac
	printf '%s' "$d"
}
shimmed=0
for wrap in "$SRC"/subprojects/*.wrap; do
	name=$(basename "$wrap" .wrap)
	dir=$(wrap_dir "$wrap")
	if [ -d "$SCRIPT_DIR/subprojects/$name" ]; then
		rm -rf "${SRC:?}/subprojects/$dir"
		mkdir -p "$SRC/subprojects/$dir"
		cp -R "$SCRIPT_DIR/subprojects/$name/." "$SRC/subprojects/$dir/"
		shimmed=$((shimmed + 1))
		log "subproject $name -> subprojects/$dir (Debian shim)"
	elif [[ $NOT_NEEDED != *" $name "* ]]; then
		die "mediasoup@$VERSION has subprojects/$name.wrap, for which there is no shim in $SCRIPT_DIR/subprojects/: this version needs a new shim"
	fi
done
for required in libuv openssl libsrtp3 abseil-cpp flatbuffers; do
	[ -f "$SRC/subprojects/$required.wrap" ] \
		|| die "mediasoup@$VERSION has no subprojects/$required.wrap: this version is not supported by these shims"
done

# usrsctp: up to 3.19 (3.2x has its own SCTP stack).
if [ -f "$SRC/subprojects/usrsctp.wrap" ]; then
	pkg-config --exists usrsctp 2>/dev/null \
		|| die "mediasoup@$VERSION needs libusrsctp: apt-get install -y \$(cat $SCRIPT_DIR/apt-packages.txt)"
fi

# unordered_dense (3.20.1 and later): the shim header.
if [ -f "$SRC/subprojects/unordered-dense.wrap" ]; then
	ud_dir=$(wrap_dir "$SRC/subprojects/unordered-dense.wrap")
	mkdir -p "$SRC/subprojects/$ud_dir/include/ankerl"
	cp "$SCRIPT_DIR/unordered-dense/include/ankerl/unordered_dense.h" "$SRC/subprojects/$ud_dir/include/ankerl/"
	log "unordered_dense: confd shim header in subprojects/$ud_dir"
fi

# libsrtp: the adapter header, at the API level the sources use.
srtp_dir=$(wrap_dir "$SRC/subprojects/libsrtp3.wrap")
mkdir -p "$SRC/subprojects/$srtp_dir/include"
cp "$SCRIPT_DIR/srtp-adapter/include/srtp.h" "$SRC/subprojects/$srtp_dir/include/srtp.h"
if grep -q 'srtp_policy_create' "$SRC/src/RTC/SrtpSession.cpp"; then
	srtp_policy=opaque
	log "libsrtp adapter: libsrtp 3.0 API (opaque srtp_policy_t)"
else
	srtp_policy=struct
	log "libsrtp adapter: libsrtp 3.0-beta API (struct srtp_policy_t)"
fi

# Options of this version: liburing (up to 3.19) is disabled.
meson_opts=(-Dlibsrtp3:confd_srtp_policy=$srtp_policy)
if grep -q "option('ms_disable_liburing'" "$SRC/meson_options.txt" 2>/dev/null; then
	meson_opts+=(-Dms_disable_liburing=true)
fi

# --- DtlsTransport kTLS fix -----------------------------------------------
# One patch per context the line has had; the first that applies is used.
DTLS=$SRC/src/RTC/DtlsTransport.cpp
applied=""
for p in "$SCRIPT_DIR"/patches/dtls-bio-callback-return-flag-*.patch; do
	if patch --batch --forward --dry-run -p1 -d "$SRC" < "$p" >/dev/null 2>&1; then
		patch --batch --forward --no-backup-if-mismatch -p1 -d "$SRC" < "$p" >/dev/null \
			|| die "$(basename "$p") failed to apply after a clean dry run"
		applied=$(basename "$p")
		break
	fi
done
[ -n "$applied" ] || die "no DtlsTransport kTLS patch in $SCRIPT_DIR/patches applies to mediasoup@$VERSION: re-base one on $DTLS (onSslBioOut)"
fixed=$(grep -c 'const long resultOfcallback = (operationType & BIO_CB_RETURN) ?' "$DTLS" || true)
unfixed=$(grep -c 'operationType == BIO_CB_RETURN' "$DTLS" || true)
[ "$fixed" = 1 ] && [ "$unfixed" = 0 ] \
	|| die "DtlsTransport kTLS patch check failed (fixed=$fixed, unfixed=$unfixed)"
log "DtlsTransport kTLS fix applied ($applied)"

# --- build ----------------------------------------------------------------
BUILD=$WORK/build
start=$(date +%s)
log "meson options: ${meson_opts[*]}"
meson setup "$BUILD" "$SRC" \
	--buildtype release -Db_ndebug=true \
	--wrap-mode=nodownload "${meson_opts[@]}"
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
