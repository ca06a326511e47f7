#!/usr/bin/env node
// Provides node_modules/mediasoup/worker/out/Release/mediasoup-worker after
// `npm install`. Runs as the root package's postinstall, from the project root:
//   node scripts/mediasoup/provision.mjs
// The version is that of the installed mediasoup package (the one package.json
// pins, after npm install). CONFD_MEDIASOUP_VERSION=X.Y.Z names another
// version: its worker is then built into the cache only (sources from npm
// pack), not installed, which is how a new version is tried before the pin in
// package.json is changed; npm install then finds it in the cache.
// mediasoup's own postinstall is denied in package.json ("allowScripts"), so
// this script decides where the worker binary comes from, in this order:
//   (a) MEDIASOUP_WORKER_BIN is set: check that it is an executable, stop.
//   (b) the installed binary carries our stamp for this version (and inputs): stop.
//   (c) a cached build for this version + inputs hash exists: copy it in.
//   (d) mediasoup's prebuilt download (GitHub releases), unless
//       CONFD_MEDIASOUP_SKIP_PREBUILT=1.
//   (e) build it offline (build-worker.sh), store it in the cache, copy it in.
// CONFD_MEDIASOUP_FORCE_BUILD=1 skips (b), (c) and (d) and rebuilds.
// Only Node builtins; Node >= 22.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const PREFIX = 'confd: mediasoup worker:';
const SCRIPT_DIR = path.dirname(fs.realpathSync(fileURLToPath(import.meta.url)));
// As invoked (before symlinks are resolved), for messages.
const SCRIPT_DIR_SHOWN = process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : SCRIPT_DIR;
const PROJECT_ROOT = process.cwd();
const PACKAGE_DIR = path.join(PROJECT_ROOT, 'node_modules', 'mediasoup');
const RELEASE_DIR = path.join(PACKAGE_DIR, 'worker', 'out', 'Release');
const WORKER_BIN = path.join(RELEASE_DIR, 'mediasoup-worker');
const STAMP_FILE = path.join(RELEASE_DIR, '.confd-mediasoup-worker.json');
const PREBUILT_HEADERS_TIMEOUT_MS = 15_000;
const PREBUILT_BODY_TIMEOUT_MS = 120_000;
// Files under scripts/mediasoup whose content changes the built binary.
const BUILD_INPUTS = ['build-worker.sh', 'patches', 'subprojects', 'srtp-adapter/include', 'unordered-dense/include'];
const VERSION_RE = /^\d+\.\d+\.\d+$/;

const env = process.env;
const isSet = (name) => env[name] === '1' || env[name] === 'true';

function log(message) {
	console.log(`${PREFIX} ${message}`);
}

function fail(message) {
	const rel = path.relative(PROJECT_ROOT, SCRIPT_DIR_SHOWN) || SCRIPT_DIR_SHOWN;
	console.error(`${PREFIX} FAILED: ${message}`);
	console.error(`${PREFIX} To fix it, either:`);
	console.error(`${PREFIX}   - install the build packages: apt-get install -y $(cat ${rel}/apt-packages.txt)`);
	console.error(`${PREFIX}     then run again: node ${rel}/provision.mjs (or npm install)`);
	console.error(`${PREFIX}   - or set MEDIASOUP_WORKER_BIN to a mediasoup-worker ${wantedVersionForMessages} binary,`);
	console.error(`${PREFIX}     both for npm install and when running confd.`);
	process.exit(1);
}

let wantedVersionForMessages = 'of the installed mediasoup version';

// The mediasoup version package.json pins (an exact version), or null.
function pinnedVersion() {
	try {
		const root = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'));
		const spec = root.dependencies?.mediasoup ?? root.devDependencies?.mediasoup;
		return typeof spec === 'string' && VERSION_RE.test(spec) ? spec : null;
	} catch {
		return null;
	}
}

function cacheRoot() {
	if (env.CONFD_CACHE_DIR) return path.resolve(env.CONFD_CACHE_DIR);
	const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
	return path.join(path.resolve(xdg), 'confd');
}

function listFiles(dir) {
	const out = [];
	if (!fs.existsSync(dir)) return out;
	if (fs.statSync(dir).isFile()) return [dir];
	for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, entry.name);
		if (entry.isDirectory()) out.push(...listFiles(p));
		else if (entry.isFile()) out.push(p);
	}
	return out;
}

// sha256 over (relative path, content) of every build input, sorted by path.
function inputsHash() {
	const files = BUILD_INPUTS.flatMap((p) => listFiles(path.join(SCRIPT_DIR, p)))
		.map((f) => path.relative(SCRIPT_DIR, f).split(path.sep).join('/'))
		.sort();
	const hash = createHash('sha256');
	for (const rel of files) {
		hash.update(`${rel}\0`);
		hash.update(fs.readFileSync(path.join(SCRIPT_DIR, rel)));
		hash.update('\0');
	}
	return hash.digest('hex').slice(0, 16);
}

// The worker exits with 41 when started without MEDIASOUP_VERSION: that shows
// the binary loads on this host (libc, shared libraries) without running it.
function runsHere(bin) {
	try {
		fs.accessSync(bin, fs.constants.X_OK);
	} catch {
		return false;
	}
	const r = spawnSync(bin, [], { env: {}, stdio: 'ignore', timeout: 10_000 });
	return r.status === 41;
}

function readStamp() {
	try {
		return JSON.parse(fs.readFileSync(STAMP_FILE, 'utf8'));
	} catch {
		return null;
	}
}

// Copy or write through a temporary file in the target directory + rename, so
// an interrupted run never leaves a truncated binary under the final name.
function atomicWrite(target, data, mode) {
	fs.mkdirSync(path.dirname(target), { recursive: true });
	const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
	try {
		if (Buffer.isBuffer(data) || typeof data === 'string') fs.writeFileSync(tmp, data);
		else fs.copyFileSync(data.copyFrom, tmp);
		fs.chmodSync(tmp, mode);
		fs.renameSync(tmp, target);
	} catch (error) {
		fs.rmSync(tmp, { force: true });
		throw error;
	}
}

function install(fromBinary, source, version, hash) {
	atomicWrite(WORKER_BIN, { copyFrom: fromBinary }, 0o755);
	writeStamp(source, version, hash);
}

function writeStamp(source, version, hash) {
	const stamp = { version, source, inputsHash: hash, installedAt: new Date().toISOString() };
	atomicWrite(STAMP_FILE, `${JSON.stringify(stamp, null, 2)}\n`, 0o644);
}

function prebuiltTarName(version) {
	let name = `mediasoup-worker-${version}-${os.platform()}-${os.arch()}`;
	if (os.platform() === 'linux') name += `-kernel${Number(os.release().split('.')[0])}`;
	return `${name}.tgz`;
}

// Minimal tar reader: returns the content of the regular file whose basename
// is `wanted`, or null.
function extractFromTar(tar, wanted) {
	let offset = 0;
	let longName = null;
	const str = (buf) => {
		const end = buf.indexOf(0);
		return buf.subarray(0, end === -1 ? buf.length : end).toString('utf8');
	};
	while (offset + 512 <= tar.length) {
		const header = tar.subarray(offset, offset + 512);
		if (header.every((b) => b === 0)) break;
		const sizeField = header.subarray(124, 136);
		let size;
		if (sizeField[0] & 0x80) {
			size = 0;
			for (let i = 1; i < sizeField.length; i++) size = size * 256 + sizeField[i];
		} else {
			size = parseInt(str(sizeField).trim() || '0', 8);
		}
		if (!Number.isSafeInteger(size) || size < 0) return null;
		const type = String.fromCharCode(header[156] || 0x30);
		const dataStart = offset + 512;
		const dataEnd = dataStart + size;
		if (dataEnd > tar.length) return null;
		const data = tar.subarray(dataStart, dataEnd);
		if (type === 'L') {
			longName = str(data);
		} else if (type === 'x') {
			const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
			if (m) longName = m[1];
		} else {
			const prefix = str(header.subarray(345, 500));
			const name = longName ?? (prefix ? `${prefix}/${str(header.subarray(0, 100))}` : str(header.subarray(0, 100)));
			longName = null;
			if ((type === '0' || type === '\0') && path.posix.basename(name) === wanted) return Buffer.from(data);
		}
		offset = dataStart + Math.ceil(size / 512) * 512;
	}
	return null;
}

async function downloadPrebuilt(version) {
	const base =
		env.MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL || 'https://github.com/versatica/mediasoup/releases/download';
	const url = `${base}/${version}/${prebuiltTarName(version)}`;
	log(`trying the prebuilt download ${url} (timeout ${PREBUILT_HEADERS_TIMEOUT_MS / 1000} s)`);
	const controller = new AbortController();
	let timer = setTimeout(() => controller.abort(), PREBUILT_HEADERS_TIMEOUT_MS);
	try {
		const res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
		if (!res.ok) {
			log(`no prebuilt binary (${res.status} ${res.statusText})`);
			return false;
		}
		clearTimeout(timer);
		timer = setTimeout(() => controller.abort(), PREBUILT_BODY_TIMEOUT_MS);
		const tgz = Buffer.from(await res.arrayBuffer());
		const binary = extractFromTar(gunzipSync(tgz), 'mediasoup-worker');
		if (!binary || binary.length === 0) {
			log('the prebuilt archive holds no mediasoup-worker');
			return false;
		}
		const tmp = `${WORKER_BIN}.prebuilt-${process.pid}`;
		fs.mkdirSync(RELEASE_DIR, { recursive: true });
		fs.writeFileSync(tmp, binary, { mode: 0o755 });
		try {
			if (!runsHere(tmp)) {
				log('the prebuilt binary does not run on this host');
				return false;
			}
			fs.renameSync(tmp, WORKER_BIN);
		} finally {
			fs.rmSync(tmp, { force: true });
		}
		writeStamp('prebuilt', version, null);
		return true;
	} catch (error) {
		const reason = error?.name === 'AbortError' ? 'timed out' : error?.cause?.code || error?.message || String(error);
		log(`prebuilt download failed: ${reason}`);
		return false;
	} finally {
		clearTimeout(timer);
	}
}

function build(version, cachedBinary) {
	const script = path.join(SCRIPT_DIR, 'build-worker.sh');
	log(`building mediasoup-worker ${version} from source against Debian libraries (about 4 minutes on 2 idle cores, up to 11 on a busy machine)`);
	const started = Date.now();
	const r = spawnSync('bash', [script, version, cachedBinary], {
		stdio: 'inherit',
		env: { ...env, CONFD_PROJECT_ROOT: PROJECT_ROOT, CONFD_CACHE_DIR: cacheRoot() },
	});
	if (r.error) fail(`could not run ${script}: ${r.error.message}`);
	if (r.status !== 0) fail(`the offline build failed (build-worker.sh exit ${r.status ?? r.signal}); see the output above`);
	if (!runsHere(cachedBinary)) fail(`the built ${cachedBinary} does not run on this host`);
	log(`built in ${Math.round((Date.now() - started) / 1000)} s, cached at ${cachedBinary}`);
}

async function main() {
	// (a) an explicit binary.
	if (env.MEDIASOUP_WORKER_BIN) {
		const bin = env.MEDIASOUP_WORKER_BIN;
		let ok = false;
		try {
			ok = fs.statSync(bin).isFile();
			fs.accessSync(bin, fs.constants.X_OK);
		} catch {
			ok = false;
		}
		if (!ok) fail(`MEDIASOUP_WORKER_BIN=${bin} is not an executable file`);
		log(`using MEDIASOUP_WORKER_BIN=${bin} (nothing installed)`);
		return;
	}

	let installedVersion = null;
	try {
		installedVersion = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')).version;
	} catch {
		installedVersion = null;
	}
	const requested = env.CONFD_MEDIASOUP_VERSION || null;
	if (requested && !VERSION_RE.test(requested)) fail(`CONFD_MEDIASOUP_VERSION=${requested} is not a version like 3.27.1`);
	if (!requested && !installedVersion) {
		log(`mediasoup is not installed in ${PACKAGE_DIR}: nothing to do`);
		return;
	}
	// The worker must match the installed npm package; CONFD_MEDIASOUP_VERSION
	// names another version to build into the cache only.
	const version = requested ?? installedVersion;
	const pinned = pinnedVersion();
	wantedVersionForMessages = version;
	const cacheOnly = installedVersion !== version;
	if (cacheOnly) {
		log(`CONFD_MEDIASOUP_VERSION=${version}, installed mediasoup is ${installedVersion ?? 'none'}: building into the cache only`);
	} else if (pinned && pinned !== version) {
		log(`warning: installed mediasoup is ${version}, package.json pins ${pinned}`);
	}
	const force = isSet('CONFD_MEDIASOUP_FORCE_BUILD');
	const hash = inputsHash();
	const cachedBinary = path.join(cacheRoot(), 'mediasoup-worker', `${version}-${hash}`, 'mediasoup-worker');

	// (b) already installed for this version.
	if (!force && !cacheOnly && fs.existsSync(WORKER_BIN)) {
		const stamp = readStamp();
		const current =
			stamp?.version === version && (stamp.source === 'prebuilt' || stamp.inputsHash === hash);
		if (current && runsHere(WORKER_BIN)) {
			log(`already installed (${stamp.source}, ${version}): ${WORKER_BIN}`);
			return;
		}
	}

	// (c) a cached build.
	if (!force && fs.existsSync(cachedBinary)) {
		if (runsHere(cachedBinary)) {
			if (cacheOnly) {
				log(`a build of ${version} is cached (${cachedBinary}); pin mediasoup ${version} in package.json and run npm install to use it`);
				return;
			}
			install(cachedBinary, 'cache', version, hash);
			log(`installed the cached build ${cachedBinary}`);
			return;
		}
		log(`the cached build ${cachedBinary} does not run on this host: rebuilding`);
	}

	// (d) mediasoup's prebuilt binary (installed straight into node_modules,
	// so not when only the cache is filled).
	if (cacheOnly) {
		log('building into the cache: not trying the prebuilt download');
	} else if (force) {
		log('CONFD_MEDIASOUP_FORCE_BUILD=1: skipping installed, cached and prebuilt binaries');
	} else if (isSet('CONFD_MEDIASOUP_SKIP_PREBUILT')) {
		log('CONFD_MEDIASOUP_SKIP_PREBUILT=1: not trying the prebuilt download');
	} else if (await downloadPrebuilt(version)) {
		log(`installed the prebuilt binary: ${WORKER_BIN}`);
		return;
	}

	// (e) build offline, cache, install.
	build(version, cachedBinary);
	if (cacheOnly) {
		log(`built ${version} into the cache: ${cachedBinary}; pin mediasoup ${version} in package.json and run npm install to use it`);
		return;
	}
	install(cachedBinary, 'build', version, hash);
	log(`installed the offline build: ${WORKER_BIN}`);
}

main().catch((error) => fail(error?.stack || String(error)));
