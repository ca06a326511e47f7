/**
 * Debian's ffmpeg as the recording writer: it receives the RTP a PlainTransport sends (described by an
 * SDP file) and copies it, without transcoding, into a WebM file. Also: finding free loopback UDP
 * ports for it, waiting until it listens on them, and ffprobe for durations.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** How long ffmpeg gets to write the WebM trailer after SIGINT before it is killed. */
export const FFMPEG_STOP_TIMEOUT_MS = 8_000;
const STDERR_TAIL_LINES = 20;

/** The ffmpeg (or ffprobe) binary on PATH, or null. CONFD_FFMPEG points at another ffmpeg. */
export function findTool(name: 'ffmpeg' | 'ffprobe'): string | null {
  const override = name === 'ffmpeg' ? process.env.CONFD_FFMPEG : process.env.CONFD_FFPROBE;
  const candidates = override ? [override] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return null;
}

export interface FfmpegRun {
  readonly proc: ChildProcess;
  /** Resolves when it exited: its code or signal, and the last lines it wrote on stderr. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string[] }>;
  /** We asked it to stop (stop()); an exit without this is a failure. */
  readonly stopping: boolean;
  /**
   * Resolves once ffmpeg has begun the file (it knows every stream's format and reports progress),
   * or has exited. Until then a stop signal makes it abandon the file half-written.
   */
  readonly writing: Promise<void>;
  /**
   * SIGINT (ffmpeg writes the trailer and exits), SIGKILL after FFMPEG_STOP_TIMEOUT_MS. ffmpeg notices
   * the signal only between two packets it reads: `wake` (called at once, then every WAKE_EVERY_MS
   * until it exits) sends it one on the wake stream, so a silent input ends as cleanly as a busy one.
   * (A second SIGINT would not do: it also aborts ffmpeg's writes, the trailer among them.)
   */
  stop(o?: StopOptions): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string[] }>;
}

/**
 * Each packet at least one tick after the previous one. With `-c copy` to WebM, ffmpeg 5.1 hands the
 * filter timestamps in the muxer's milliseconds (whatever its TB variable says): one tick is 1 ms.
 */
const MONOTONIC = 'setts=ts=max(TS\\,PREV_OUTDTS+1)';

export interface StopOptions {
  /** Sends ffmpeg one packet on the wake stream (wake.ts). */
  wake?: () => void;
  /** Media reached it: wait up to this long for it to begin the file (`writing`) before the signal. */
  firstWriteMs?: number;
}

const WAKE_EVERY_MS = 200;

/**
 * Starts ffmpeg on `sdpFile` writing `outFile` (which exists already, mode 0600: -y keeps its mode).
 * The SDP's first `recorded` streams go into the file; any after them (the wake stream) are read and
 * dropped.
 */
export function runFfmpeg(bin: string, sdpFile: string, outFile: string, recorded: number): FfmpegRun {
  const args = [
    '-hide_banner',
    '-nostdin',
    // Progress on stdout: its first report says the file has begun (see `writing`).
    '-progress',
    'pipe:1',
    '-loglevel',
    'warning',
    '-protocol_whitelist',
    'file,udp,rtp',
    // Listen on loopback only: nobody on the network can inject packets into a recording.
    '-localaddr',
    '127.0.0.1',
    // The SDP input gives up after 10 s without a packet on any stream by default, and a participant
    // who mutes (or turns the camera off) sends none: wait for packets however long the silence.
    '-listen_timeout',
    '-1',
    '-i',
    sdpFile,
    ...Array.from({ length: recorded }, (_, i) => ['-map', `0:${i}`]).flat(),
    '-c',
    'copy',
    // ffmpeg re-bases a stream's timestamps on the first RTCP sender report, which comes after the
    // first RTP packets: the few packets around it may step back a little. Keep them increasing.
    '-bsf:a',
    MONOTONIC,
    '-bsf:v',
    MONOTONIC,
    '-f',
    'webm',
    '-y',
    outFile,
  ];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let began: () => void = () => {};
  const writing = new Promise<void>((resolve) => (began = resolve));
  proc.stdout!.once('data', () => began());
  proc.stdout!.resume();
  const tail: string[] = [];
  let partial = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) tail.push(l.trim());
    if (tail.length > STDERR_TAIL_LINES) tail.splice(0, tail.length - STDERR_TAIL_LINES);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string[] }>((resolve) => {
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      if (partial.trim()) tail.push(partial.trim());
      resolve({ code, signal, stderr: tail.slice(-STDERR_TAIL_LINES) });
    };
    proc.once('exit', finish);
    proc.once('exit', () => began());
    // spawn failures (ENOENT, EACCES) come as 'error' without 'exit'.
    proc.once('error', (e) => {
      tail.push(`cannot run ${bin}: ${e.message}`);
      finish(null, null);
    });
  });
  let stopping = false;
  return {
    proc,
    exited,
    get stopping() {
      return stopping;
    },
    writing,
    async stop({ wake, firstWriteMs = 0 } = {}) {
      stopping = true;
      if (firstWriteMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([writing, new Promise<void>((r) => (timer = setTimeout(r, firstWriteMs)))]);
        clearTimeout(timer);
      }
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        wake?.();
        const waking = wake ? setInterval(wake, WAKE_EVERY_MS) : undefined;
        const timer = setTimeout(() => proc.kill('SIGKILL'), FFMPEG_STOP_TIMEOUT_MS);
        const r = await exited;
        clearTimeout(timer);
        clearInterval(waking);
        return r;
      }
      return exited;
    },
  };
}

/** A sentence for a log or a side-car: why ffmpeg ended. */
export function ffmpegFailure(r: { code: number | null; signal: NodeJS.Signals | null; stderr: string[] }): string {
  const how = r.signal ? `was killed (${r.signal})` : `exited with code ${r.code}`;
  const last = r.stderr.filter((l) => !/^\s*(Last message repeated|\[.*\] ?)$/.test(l)).slice(-2).join(' | ');
  return `ffmpeg ${how}${last ? `: ${last.slice(0, 300)}` : ''}`;
}

/** "No space left on device" in ffmpeg's words: the disk is full. */
export const diskFullIn = (stderr: string[]): boolean => stderr.some((l) => /No space left on device|ENOSPC|Disk quota exceeded/i.test(l));

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** An even port p on 127.0.0.1 with p and p + 1 free for UDP (RTP and RTCP), avoiding `taken`. */
export async function freeRtpPort(taken: ReadonlySet<number>): Promise<number> {
  const [low, high] = await rtpPortRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const p = 2 * Math.floor((low + Math.random() * (high - low)) / 2);
    if (taken.has(p) || taken.has(p + 1)) continue;
    if ((await bindable(p)) && (await bindable(p + 1))) return p;
  }
  throw new Error('no free UDP port pair on 127.0.0.1 for ffmpeg');
}

/** How many ports below the kernel's ephemeral range ffmpeg's receive ports are taken from. */
const RTP_PORT_SPAN = 6000;

/**
 * Where ffmpeg's receive ports are picked: just below the kernel's ephemeral range (32768 by default).
 * Inside that range, a browser's ICE sockets or any outgoing UDP may take the port between the check
 * and ffmpeg's bind ("bind failed: Address already in use").
 */
async function rtpPortRange(): Promise<[number, number]> {
  let first = 32768;
  try {
    const [lo] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (lo && lo > RTP_PORT_SPAN + 1024) first = lo;
  } catch {
    // No /proc: Linux's default range.
  }
  return [first - RTP_PORT_SPAN, first - 2];
}

/** The local UDP ports bound now, from /proc/net/udp (null where there is no /proc). */
async function boundUdpPorts(): Promise<Set<number> | null> {
  try {
    const text = await readFile('/proc/net/udp', 'utf8');
    const ports = new Set<number>();
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const port = local?.split(':')[1];
      if (port) ports.add(parseInt(port, 16));
    }
    return ports;
  } catch {
    return null;
  }
}

/**
 * Resolves true once every port is bound (ffmpeg opened its RTP/RTCP sockets), false if `run` exited
 * first or `timeoutMs` passed. Without /proc it waits a fixed second.
 */
export async function waitListening(run: FfmpegRun, ports: readonly number[], timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exited.then(() => (exited = true));
  for (;;) {
    if (exited) return false;
    const bound = await boundUdpPorts();
    if (bound === null) {
      await new Promise((r) => setTimeout(r, 1000));
      return !exited;
    }
    if (ports.every((p) => bound.has(p))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Probe {
  durationSeconds: number | null;
  streams: { codec: string; kind: string }[];
}

/** ffprobe's view of a file (null when ffprobe is missing or cannot read it). */
export function probe(file: string, timeoutMs = 10_000): Promise<Probe | null> {
  const bin = findTool('ffprobe');
  if (!bin) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile(bin, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return resolve(null);
      try {
        const j = JSON.parse(stdout) as { format?: { duration?: string }; streams?: { codec_name?: string; codec_type?: string }[] };
        const d = Number(j.format?.duration);
        resolve({
          durationSeconds: Number.isFinite(d) ? Math.round(d * 10) / 10 : null,
          streams: (j.streams ?? []).map((s) => ({ codec: s.codec_name ?? '?', kind: s.codec_type ?? '?' })),
        });
      } catch {
        resolve(null);
      }
    });
  });
}
