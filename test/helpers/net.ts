/** Loopback ports for the servers the tests start (confd, redis-server, turnserver, nginx). */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

/** Whether `port` is free for both TCP and UDP on `ip`. */
export function canBind(port: number, ip: string): Promise<boolean> {
  const tcp = new Promise<boolean>((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, ip, () => srv.close(() => done(true)));
  });
  const udp = new Promise<boolean>((done) => {
    const sock = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', () => {
      sock.close();
      done(false);
    });
    sock.bind(port, ip, () => sock.close(() => done(true)));
  });
  return Promise.all([tcp, udp]).then(([a, b]) => a && b);
}

/**
 * A port free on 127.0.0.1 a moment ago. With `range` [from, to): one in it that is free for TCP and
 * UDP, for a server that must come back on the same port after a restart (pick a range outside Linux's
 * ephemeral 32768-60999, where no outgoing socket takes it meanwhile, and away from the other helpers'
 * ranges). Without: the kernel's pick, for a server started once.
 */
export async function freePort(range?: readonly [number, number]): Promise<number> {
  if (range) {
    for (let i = 0; i < 200; i++) {
      const p = randomInt(range[0], range[1]);
      if (await canBind(p, '127.0.0.1')) return p;
    }
    throw new Error(`no free loopback port in ${range[0]}-${range[1] - 1}`);
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
