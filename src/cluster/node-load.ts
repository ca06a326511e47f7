import type { MediaPlane } from '../rooms/view.ts';
import type { HeartbeatReport } from './nodes.ts';

/**
 * This node's load for its heartbeat: peers and rooms from the rooms (and the names of those it holds), CPU from the mediasoup workers'
 * CPU time since the last reading (the media is where the cost is).
 */
export function nodeLoadMeter(media: MediaPlane, held: () => string[], hosts: () => string[], now: () => number = Date.now): () => Promise<HeartbeatReport> {
  let last: { at: number; cpuMs: number } | null = null;
  return async () => {
    const workers = await media.workers();
    const cpuMs = workers.reduce((n, w) => n + w.cpu.userMs + w.cpu.systemMs, 0);
    const at = now();
    const cpu = last && at > last.at && workers.length > 0 ? Math.max(0, cpuMs - last.cpuMs) / (at - last.at) / workers.length : 0;
    last = { at, cpuMs };
    const rooms = media.rooms();
    return {
      load: { peers: rooms.reduce((n, r) => n + r.peers.length, 0), rooms: rooms.length, cpu: Math.round(cpu * 1000) / 1000 },
      // Rooms with anyone in them or expected back: a lapsed lease is given back to this node (placement.ts).
      roomNames: held(),
      // A host leaving a room here is logged out after the grace only if it is not in a room elsewhere.
      hosts: hosts(),
    };
  };
}
