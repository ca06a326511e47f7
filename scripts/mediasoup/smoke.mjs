#!/usr/bin/env node
// Smoke test of the installed mediasoup worker, run from the project root:
//   node scripts/mediasoup/smoke.mjs
// Uses mediasoup from the project's node_modules: starts a worker, creates a
// router with opus + VP8 and a WebRtcTransport on 127.0.0.1, prints the
// worker pid and OK, closes everything. Exits non-zero on failure.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as process from 'node:process';
import { pathToFileURL } from 'node:url';

const TIMEOUT_MS = 20_000;
const PREFIX = 'confd: mediasoup smoke:';

const timer = setTimeout(() => {
	console.error(`${PREFIX} FAILED: timed out after ${TIMEOUT_MS / 1000} s`);
	process.exit(1);
}, TIMEOUT_MS);

async function main() {
	const require = createRequire(path.join(process.cwd(), 'package.json'));
	let entry;
	try {
		entry = require.resolve('mediasoup');
	} catch {
		throw new Error(`mediasoup is not installed under ${process.cwd()}/node_modules`);
	}
	const imported = await import(pathToFileURL(entry).href);
	const mediasoup = imported.default ?? imported;

	console.log(`${PREFIX} node ${process.version}, mediasoup ${mediasoup.version}`);
	console.log(`${PREFIX} worker binary ${process.env.MEDIASOUP_WORKER_BIN || mediasoup.workerBin || '(package default)'}`);

	const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 40000, rtcMaxPort: 40999 });
	let died = null;
	worker.on('died', (error) => {
		died = error;
	});
	console.log(`${PREFIX} worker pid ${worker.pid}`);
	try {
		const router = await worker.createRouter({
			mediaCodecs: [
				{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
				{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
			],
		});
		const codecs = router.rtpCapabilities.codecs.map((c) => c.mimeType).join(', ');
		console.log(`${PREFIX} router ${router.id} codecs: ${codecs}`);

		const transport = await router.createWebRtcTransport({
			listenInfos: [
				{ protocol: 'udp', ip: '127.0.0.1' },
				{ protocol: 'tcp', ip: '127.0.0.1' },
			],
		});
		const candidates = transport.iceCandidates.map((c) => `${c.protocol} ${c.address}:${c.port}`).join(', ');
		console.log(`${PREFIX} WebRtcTransport ${transport.id} ICE candidates: ${candidates}`);
		console.log(`${PREFIX} DTLS state ${transport.dtlsState}, ${transport.dtlsParameters.fingerprints.length} fingerprints`);

		const usage = await worker.getResourceUsage();
		if (!transport.iceCandidates.length || died) throw new Error('no ICE candidates or the worker died');
		transport.close();
		router.close();
		console.log(`${PREFIX} worker ru_maxrss ${usage.ru_maxrss} KiB`);
	} finally {
		worker.close();
	}
	if (died) throw died;
	console.log(`${PREFIX} OK`);
}

main().then(
	() => {
		clearTimeout(timer);
	},
	(error) => {
		console.error(`${PREFIX} FAILED: ${error?.stack || error}`);
		process.exit(1);
	},
);
