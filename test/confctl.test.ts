/**
 * confctl end to end: every command and exit code against a real daemon over its real admin socket.
 * Exit codes: 0 ok, 1 refused/failed, 2 usage, 3 daemon unreachable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, confctl, CONFCTL, ROOT, startConfd, tempDir, type RunningDaemon } from './helpers/daemon.ts';
import { VERSION } from '../src/version.ts';
import { joinPeer } from './helpers/sfu-client.ts';

type Run = Awaited<ReturnType<typeof confctl>>;

const ALICE_PW = 'alice-first-pw-1';
const ALICE_PW2 = 'alice-second-pw-2';
const BOB_PW = 'bob-password-123';
const LEGACY_ID = '-legacyTokenId12';

const show = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

function expectExit(r: Run, code: number): void {
  assert.equal(r.code, code, show(r));
}

function parseJson(r: Run): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`stdout is not JSON\n${show(r)}`);
  }
}

/** --json error output: {error:{code,message}} on stdout. */
function expectJsonError(r: Run, exit: number, code?: string, message?: RegExp): { code: string; message: string } {
  expectExit(r, exit);
  const body = parseJson(r);
  assert.equal(typeof body.error?.code, 'string', show(r));
  assert.equal(typeof body.error?.message, 'string', show(r));
  assert.ok(body.error.message.length > 0, show(r));
  if (code) assert.equal(body.error.code, code, show(r));
  if (message) assert.match(body.error.message, message);
  return body.error;
}

function readDb(d: RunningDaemon): any {
  return JSON.parse(readFileSync(join(d.dataDir, 'confd.db.json'), 'utf8'));
}

/** Every file under `dir` (recursively) whose bytes contain `needle`; sockets and the like are skipped. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) hits.push(...filesContaining(p, needle));
    else if (st?.isFile() && readFileSync(p).includes(needle)) hits.push(p);
  }
  return hits;
}

function jwtPayload(token: string): any {
  const part = token.split('.')[1];
  assert.ok(part, `not a JWT: ${token}`);
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Leaves a socket file with nobody listening on it, as a crashed daemon would. */
function makeStaleSocket(path: string): void {
  const r = spawnSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(statSync(path).isSocket());
}

/**
 * Runs a command on a real pseudo-terminal (python3's pty module) and types each answer once the
 * matching "password: " prompt has appeared. Resolves with the exit code and everything the terminal showed.
 */
const PTY_DRIVER = String.raw`
import json, os, pty, select, signal, sys, time
answers = json.loads(os.environ['PTY_ANSWERS'])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
sent = 0
deadline = time.time() + 25
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if sent < len(answers) and out.count(b'password: ') > sent:
        os.write(fd, answers[sent].encode() + b'\r')
        sent += 1
else:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'code': os.waitstatus_to_exitcode(status), 'screen': out.decode('utf8', 'replace'), 'sent': sent}))
`;

function onPty(args: string[], answers: string[]): Promise<{ code: number; screen: string; sent: number }> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn('python3', ['-c', PTY_DRIVER, process.execPath, CONFCTL, ...args], {
      cwd: ROOT,
      env: { ...process.env, CONFD_CONFIG: '', CONFD_SOCKET: '', CONFD_DATA_DIR: '', PTY_ANSWERS: JSON.stringify(answers) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    proc.once('error', reject);
    proc.once('close', (code) => {
      if (code !== 0) return reject(new Error(`pty driver failed (exit ${code}): ${err}`));
      try {
        resolvePromise(JSON.parse(out));
      } catch {
        reject(new Error(`pty driver printed no JSON: ${out}\n${err}`));
      }
    });
  });
}

describe('confctl against a running daemon', () => {
  let d: RunningDaemon;
  const ctl = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) => confctl(['--socket', d.socket, ...args], opts);
  const userNames = async (): Promise<string[]> => {
    const r = await ctl(['--json', 'user', 'list']);
    expectExit(r, 0);
    return parseJson(r).users.map((u: { name: string }) => u.name);
  };

  before(async () => {
    // A token registered before ids were kept from starting with "-": it must still be revocable.
    const dataDir = join(tempDir(), 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const at = new Date();
    const legacy = { id: LEGACY_ID, room: 'legacy', sub: 'guest', presenter: false, issuedAt: at.toISOString(), expiresAt: new Date(at.getTime() + 3600_000).toISOString(), revokedAt: null };
    writeFileSync(join(dataDir, 'confd.db.json'), JSON.stringify({ version: 1, users: [], ips: [], tokens: [legacy], audit: [] }));
    d = await startConfd({ dataDir });
  });
  after(async () => {
    assert.equal(await d.stop(), 0, d.stderr());
    cleanup(join(d.dataDir, '..'));
  });

  describe('user', () => {
    test('user add --password-stdin adds the user; --json answers with its name', async () => {
      const r = await ctl(['user', 'add', 'alice', '--password-stdin'], { input: `${ALICE_PW}\n` });
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'user alice added');
      const j = await ctl(['--json', 'user', 'add', 'bob', '--password-stdin'], { input: BOB_PW });
      expectExit(j, 0);
      const body = parseJson(j);
      assert.equal(body.name, 'bob');
      assert.ok(!Number.isNaN(Date.parse(body.createdAt)), j.stdout);
      assert.deepEqual(await userNames(), ['alice', 'bob']);
    });

    test('adding an existing user is refused (exit 1) and keeps its hash', async () => {
      const before = readDb(d).users.find((u: any) => u.name === 'alice').hash;
      const r = await ctl(['user', 'add', 'alice', '--password-stdin'], { input: 'another-password-1' });
      expectExit(r, 1);
      assert.match(r.stderr, /already exists/);
      expectJsonError(await ctl(['--json', 'user', 'add', 'alice', '--password-stdin'], { input: 'another-password-1' }), 1, 'conflict', /already exists/);
      assert.equal(readDb(d).users.find((u: any) => u.name === 'alice').hash, before);
    });

    test('a too-short password is refused (exit 1) and nothing is added', async () => {
      const r = await ctl(['user', 'add', 'shorty', '--password-stdin'], { input: 'short' });
      expectExit(r, 1);
      assert.match(r.stderr, /at least 8 characters/);
      expectJsonError(await ctl(['--json', 'user', 'add', 'shorty', '--password-stdin'], { input: 'short' }), 1, 'bad_request', /at least 8/);
      assert.ok(!(await userNames()).includes('shorty'));
    });

    test('--password-stdin with nothing on stdin is a usage error (exit 2)', async () => {
      const r = await ctl(['user', 'add', 'empty', '--password-stdin'], { input: '' });
      expectExit(r, 2);
      assert.match(r.stderr, /no password on stdin/);
      assert.ok(!(await userNames()).includes('empty'));
    });

    test('an invalid user name is refused and nothing is added', async () => {
      const r = await ctl(['user', 'add', 'bad name', '--password-stdin'], { input: 'long-enough-pw' });
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /user names are/);
      assert.deepEqual(await userNames(), ['alice', 'bob']);
    });

    test('user list: human table and --json', async () => {
      const r = await ctl(['user', 'list']);
      expectExit(r, 0);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0]!, /^NAME\s+CREATED\s+UPDATED$/);
      assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['alice', 'bob']);
      const j = parseJson(await ctl(['user', 'list', '--json']));
      assert.deepEqual(Object.keys(j.users[0]).sort(), ['createdAt', 'name', 'updatedAt']);
      assert.ok(!JSON.stringify(j).includes('argon2'), 'user list must not show hashes');
    });

    test('user passwd changes the stored argon2id hash; no plaintext anywhere in the data dir', async () => {
      const old = readDb(d).users.find((u: any) => u.name === 'alice');
      assert.ok(old.hash.startsWith('$argon2id$'), old.hash);
      const r = await ctl(['user', 'passwd', 'alice', '--password-stdin'], { input: `${ALICE_PW2}\n` });
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'password of alice changed');
      const now = readDb(d).users.find((u: any) => u.name === 'alice');
      assert.ok(now.hash.startsWith('$argon2id$'), now.hash);
      assert.notEqual(now.hash, old.hash);
      assert.equal(now.createdAt, old.createdAt);
      assert.ok(Date.parse(now.updatedAt) >= Date.parse(old.updatedAt));
      for (const pw of [ALICE_PW, ALICE_PW2, BOB_PW]) {
        assert.deepEqual(filesContaining(d.dataDir, pw), [], `plaintext ${pw} found in the data dir`);
        assert.ok(!d.stdout().includes(pw), `plaintext ${pw} found in the daemon log`);
      }
      const j = parseJson(await ctl(['--json', 'user', 'passwd', 'alice', '--password-stdin'], { input: ALICE_PW2 }));
      assert.deepEqual(j, { name: 'alice', updated: true });
    });

    test('user passwd of a missing user is refused (exit 1)', async () => {
      const r = await ctl(['user', 'passwd', 'nobody', '--password-stdin'], { input: 'long-enough-pw' });
      expectExit(r, 1);
      assert.match(r.stderr, /no user "nobody"/);
      expectJsonError(await ctl(['--json', 'user', 'passwd', 'nobody', '--password-stdin'], { input: 'long-enough-pw' }), 1, 'not_found');
    });

    test('user remove removes the user; removing it again is refused (exit 1)', async () => {
      expectExit(await ctl(['user', 'add', 'zed', '--password-stdin'], { input: 'zed-password-1' }), 0);
      const r = await ctl(['user', 'remove', 'zed']);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'user zed removed');
      assert.ok(!(await userNames()).includes('zed'));
      assert.ok(!readDb(d).users.some((u: any) => u.name === 'zed'));
      const again = await ctl(['user', 'remove', 'zed']);
      expectExit(again, 1);
      assert.match(again.stderr, /no user "zed"/);
      expectJsonError(await ctl(['--json', 'user', 'remove', 'zed']), 1, 'not_found');
    });
  });

  describe('user add on a terminal', () => {
    test('asks twice without echo and adds the user', async () => {
      const pw = 'typed-on-a-tty-1';
      const r = await onPty(['--socket', d.socket, 'user', 'add', 'carol'], [pw, pw]);
      assert.equal(r.code, 0, r.screen);
      assert.equal(r.sent, 2, r.screen);
      assert.match(r.screen, /New password: [\s\S]*Repeat password: /);
      assert.match(r.screen, /user carol added/);
      assert.ok(!r.screen.includes(pw), `the password was echoed:\n${r.screen}`);
      assert.ok((await userNames()).includes('carol'));
      assert.deepEqual(filesContaining(d.dataDir, pw), []);
    });

    test('mismatching passwords: exit 1 and nothing added', async () => {
      const r = await onPty(['--socket', d.socket, 'user', 'add', 'dave'], ['first-password-1', 'other-password-2']);
      assert.equal(r.code, 1, r.screen);
      assert.match(r.screen, /do not match; nothing was changed/);
      assert.ok(!r.screen.includes('first-password-1') && !r.screen.includes('other-password-2'), r.screen);
      assert.ok(!(await userNames()).includes('dave'));
    });

    test('no terminal and no --password-stdin is a usage error (exit 2)', async () => {
      const r = await ctl(['user', 'add', 'erin']);
      expectExit(r, 2);
      assert.match(r.stderr, /--password-stdin/);
      expectJsonError(await ctl(['--json', 'user', 'passwd', 'alice']), 2, 'usage', /--password-stdin/);
      assert.ok(!(await userNames()).includes('erin'));
    });
  });

  describe('token', () => {
    const issued: string[] = [];

    test('token issue prints the token and the join URL for its room', async () => {
      const r = await ctl(['token', 'issue', '--room', 'standup']);
      expectExit(r, 0);
      const token = /^token:\s+(\S+)$/m.exec(r.stdout)?.[1];
      const url = /^join url:\s+(\S+)$/m.exec(r.stdout)?.[1];
      const id = /^id:\s+(\S+)$/m.exec(r.stdout)?.[1];
      assert.ok(token && url && id, r.stdout);
      assert.equal(url, `${d.http}/join/standup?token=${encodeURIComponent(token)}`);
      const claims = jwtPayload(token);
      assert.equal(claims.room, 'standup');
      assert.equal(claims.sub, 'guest');
      assert.equal(claims.presenter, false);
      assert.equal(claims.aud, 'confd-join');
      assert.equal(claims.jti, id);
      assert.match(r.stdout, /^user:\s+guest$/m);
      issued.push(id);
    });

    test('the default TTL is 1h', async () => {
      const r = await ctl(['--json', 'token', 'issue', '--room', 'standup']);
      expectExit(r, 0);
      const t = parseJson(r);
      assert.equal((Date.parse(t.expiresAt) - Date.parse(t.issuedAt)) / 1000, 3600);
      const claims = jwtPayload(t.token);
      assert.equal(claims.exp - claims.iat, 3600);
      assert.ok(t.joinUrl.includes('/join/standup?token='), t.joinUrl);
      issued.push(t.id);
    });

    for (const [ttl, seconds] of [['90s', 90], ['30m', 1800], ['1h', 3600], ['2d', 172800]] as const) {
      test(`--ttl ${ttl} expires ${seconds}s after issue`, async () => {
        const r = await ctl(['--json', 'token', 'issue', '--room', 'r-ttl', '--ttl', ttl]);
        expectExit(r, 0);
        const t = parseJson(r);
        assert.equal((Date.parse(t.expiresAt) - Date.parse(t.issuedAt)) / 1000, seconds);
        assert.equal(jwtPayload(t.token).exp - jwtPayload(t.token).iat, seconds);
      });
    }

    test('--ttl 5x is a usage error (exit 2) and issues nothing', async () => {
      const count = readDb(d).tokens.length;
      const r = await ctl(['token', 'issue', '--room', 'standup', '--ttl', '5x']);
      expectExit(r, 2);
      assert.match(r.stderr, /invalid --ttl "5x"/);
      expectJsonError(await ctl(['--json', 'token', 'issue', '--room', 'standup', '--ttl', '5x']), 2, 'usage');
      assert.equal(readDb(d).tokens.length, count);
    });

    test('a TTL above jwt.maxTtl (7d) is refused (exit 1) naming the maximum', async () => {
      const count = readDb(d).tokens.length;
      const r = await ctl(['token', 'issue', '--room', 'standup', '--ttl', '8d']);
      expectExit(r, 1);
      assert.match(r.stderr, /maximum jwt\.maxTtl \(7d\)/);
      expectJsonError(await ctl(['--json', 'token', 'issue', '--room', 'standup', '--ttl', '8d']), 1, 'refused', /7d/);
      expectExit(await ctl(['token', 'issue', '--room', 'standup', '--ttl', '7d']), 0);
      assert.equal(readDb(d).tokens.length, count + 1);
    });

    test('--user of an unknown user is refused (exit 1)', async () => {
      const r = await ctl(['token', 'issue', '--room', 'standup', '--user', 'ghost']);
      expectExit(r, 1);
      assert.match(r.stderr, /no user "ghost"/);
      expectJsonError(await ctl(['--json', 'token', 'issue', '--room', 'standup', '--user', 'ghost']), 1, 'not_found');
    });

    test('--user alice --presenter sets sub and presenter', async () => {
      const r = await ctl(['--json', 'token', 'issue', '--room', 'board', '--user', 'alice', '--presenter']);
      expectExit(r, 0);
      const t = parseJson(r);
      assert.equal(t.sub, 'alice');
      assert.equal(t.presenter, true);
      assert.equal(t.room, 'board');
      const claims = jwtPayload(t.token);
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.presenter, true);
      const human = await ctl(['token', 'issue', '--room', 'board', '--user', 'alice', '--presenter']);
      expectExit(human, 0);
      assert.match(human.stdout, /^user:\s+alice \(presenter\)$/m);
    });

    test('an invalid room name or a missing --room is a usage error (exit 2)', async () => {
      for (const room of ['bad room', 'a/b', '.hidden', 'x'.repeat(65)]) {
        const r = await ctl(['token', 'issue', '--room', room]);
        expectExit(r, 2);
        assert.match(r.stderr, /invalid --room/);
      }
      const missing = await ctl(['token', 'issue']);
      expectExit(missing, 2);
      assert.match(missing.stderr, /--room/);
      expectJsonError(await ctl(['--json', 'token', 'issue']), 2, 'usage', /--room/);
    });

    test('token list shows active and revoked tokens; revoke twice or unknown id is refused', async () => {
      const [first, second] = issued;
      assert.ok(first && second);
      const r = await ctl(['token', 'revoke', first]);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), `token ${first} (room standup) revoked`);
      const again = await ctl(['token', 'revoke', first]);
      expectExit(again, 1);
      assert.match(again.stderr, /already revoked/);
      expectJsonError(await ctl(['--json', 'token', 'revoke', first]), 1, 'conflict');
      const unknown = await ctl(['token', 'revoke', 'nosuchtokenid123']);
      expectExit(unknown, 1);
      assert.match(unknown.stderr, /no token with id "nosuchtokenid123"/);

      const list = await ctl(['token', 'list']);
      expectExit(list, 0);
      assert.match(list.stdout.split('\n')[0]!, /^ID\s+ROOM\s+USER\s+PRESENTER\s+EXPIRES\s+STATE$/);
      const row = (id: string) => list.stdout.split('\n').find((l) => l.startsWith(`${id} `));
      assert.match(row(first) ?? '', /\sstandup\s+guest\s+no\s.*\srevoked$/);
      assert.match(row(second) ?? '', /\sstandup\s+guest\s+no\s.*\sactive$/);
      const j = parseJson(await ctl(['--json', 'token', 'list']));
      const byId = new Map(j.tokens.map((t: any) => [t.id, t]));
      assert.equal((byId.get(first) as any)?.state, 'revoked');
      assert.equal((byId.get(second) as any)?.state, 'active');
      assert.ok(!JSON.stringify(j).includes('eyJ'), 'token list must not print the tokens themselves');
      for (const t of j.tokens) if (t.id !== LEGACY_ID) assert.ok(!t.id.startsWith('-'), `token id ${t.id} reads as an option`);
      assert.equal((byId.get(LEGACY_ID) as any)?.state, 'active');
      assert.ok(readDb(d).tokens.find((t: any) => t.id === first).revokedAt);
    });

    test('an id starting with "-" is revoked after "--"', async () => {
      expectExit(await ctl(['token', 'revoke', LEGACY_ID]), 2);
      const r = await ctl(['token', 'revoke', '--', LEGACY_ID]);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), `token ${LEGACY_ID} (room legacy) revoked`);
      assert.ok(readDb(d).tokens.find((t: any) => t.id === LEGACY_ID).revokedAt);
    });
  });

  describe('ip', () => {
    before(async () => {
      for (const body of [
        { ip: '203.0.113.7', user: 'alice', ttl: '1h' },
        { ip: '2001:DB8::1', user: 'alice' },
        { ip: '198.51.100.9', user: 'bob', ttl: '30m' },
      ]) {
        const r = await d.admin('POST', '/v1/ips', body);
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
    });

    test('ip list: human table and --json', async () => {
      const r = await ctl(['ip', 'list']);
      expectExit(r, 0);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0]!, /^IP\s+USER\s+SINCE\s+LAST SEEN\s+EXPIRES$/);
      assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')).sort(), ['198.51.100.9 bob', '2001:db8::1 alice', '203.0.113.7 alice']);
      const j = parseJson(await ctl(['--json', 'ip', 'list']));
      const e = j.ips.find((x: any) => x.ip === '198.51.100.9');
      assert.equal(e.user, 'bob');
      assert.equal((Date.parse(e.expiresAt) - Date.parse(e.since)) / 1000, 1800);
      assert.ok(e.lastSeen);
    });

    test('ip revoke IP removes it; an unknown IP is refused (exit 1)', async () => {
      const r = await ctl(['ip', 'revoke', '203.0.113.7']);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'revoked 203.0.113.7');
      assert.ok(!readDb(d).ips.some((e: any) => e.ip === '203.0.113.7'));
      const again = await ctl(['ip', 'revoke', '203.0.113.7']);
      expectExit(again, 1);
      assert.match(again.stderr, /not in the authorised-IP table/);
      expectJsonError(await ctl(['--json', 'ip', 'revoke', '192.0.2.55']), 1, 'not_found', /192\.0\.2\.55/);
    });

    test('ip revoke with neither, both, or a malformed IP is a usage error (exit 2)', async () => {
      const neither = await ctl(['ip', 'revoke']);
      expectExit(neither, 2);
      assert.match(neither.stderr, /--all/);
      const both = await ctl(['ip', 'revoke', '198.51.100.9', '--all']);
      expectExit(both, 2);
      assert.match(both.stderr, /not both/);
      for (const bad of ['not-an-ip', '999.1.1.1', '1.2.3.4/24']) {
        const r = await ctl(['ip', 'revoke', bad]);
        expectExit(r, 2);
        assert.match(r.stderr, /is not an IP address/);
      }
      expectJsonError(await ctl(['--json', 'ip', 'revoke', 'not-an-ip']), 2, 'usage');
      // None of that touched the table.
      assert.equal(readDb(d).ips.length, 2);
    });

    test('ip revoke --all empties the table', async () => {
      const r = await ctl(['ip', 'revoke', '--all']);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'revoked 2 authorised IP entries');
      assert.deepEqual(readDb(d).ips, []);
      const list = await ctl(['ip', 'list']);
      expectExit(list, 0);
      assert.equal(list.stdout.trim(), 'no authorised IPs');
      assert.deepEqual(parseJson(await ctl(['--json', 'ip', 'list'])), { ips: [] });
      assert.deepEqual(parseJson(await ctl(['--json', 'ip', 'revoke', '--all'])), { revoked: [], revokedTokens: [] });
    });
  });

  describe('status, rooms, kick, audit', () => {
    test('status: human and --json', async () => {
      const r = await ctl(['status']);
      expectExit(r, 0);
      assert.match(r.stdout, new RegExp(`^confd ${VERSION.replaceAll('.', '\\.')} \\(pid ${d.proc.pid}, node v`));
      assert.match(r.stdout, /^uptime:\s+\d+s/m);
      assert.ok(r.stdout.includes(d.socket), r.stdout);
      const s = parseJson(await ctl(['--json', 'status']));
      assert.equal(s.version, VERSION);
      assert.equal(s.pid, d.proc.pid);
      assert.ok(Number.isInteger(s.uptimeSeconds) && s.uptimeSeconds >= 0 && s.uptimeSeconds < 600, String(s.uptimeSeconds));
      assert.ok(Array.isArray(s.workers));
      // The human form lists the same workers (none while the media plane is not running).
      if (s.workers.length === 0) assert.match(r.stdout, /^workers: none$/m);
      for (const w of s.workers) {
        assert.ok(Number.isInteger(w.pid) && w.pid > 0, JSON.stringify(w));
        assert.match(r.stdout, new RegExp(`^\\s+${w.pid}\\s`, 'm'));
      }
      assert.equal(s.users, readDb(d).users.length);
      // A single node: says so, and `cluster` explains what would make one.
      assert.equal(s.cluster, null);
      assert.match(r.stdout, /^cluster: +no \(a single node; state in the data dir\)$/m);
      const cluster = await ctl(['cluster']);
      expectExit(cluster, 1);
      assert.match(cluster.stderr, /this node is not in a cluster \(cluster\.redis is null\); see docs\/cluster\.md/);
    });

    test('rooms prints "no rooms"', async () => {
      const r = await ctl(['rooms']);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'no rooms');
      assert.deepEqual(parseJson(await ctl(['--json', 'rooms'])), { rooms: [] });
    });

    test('kick of a peer that is not there is refused (exit 1); bad arguments are usage errors', async () => {
      const r = await ctl(['kick', '--room', 'r', '--peer', 'p']);
      expectExit(r, 1);
      assert.match(r.stderr, /no peer "p" in room "r"/);
      expectJsonError(await ctl(['--json', 'kick', '--room', 'r', '--peer', 'p']), 1, 'not_found');
      expectExit(await ctl(['kick', '--room', 'bad room', '--peer', 'p']), 2);
      expectExit(await ctl(['kick', '--room', 'r']), 2);
    });

    test('end: a room with peers is ended (each disconnected, audited); an empty one is refused (exit 1)', async () => {
      const peers = await Promise.all(['e1', 'e2'].map((peerId) => joinPeer(d.http, { room: 'endme', peerId })));
      const r = await ctl(['end', '--room', 'endme']);
      expectExit(r, 0);
      assert.equal(r.stdout.trim(), 'ended endme: 2 peers disconnected');
      for (const p of peers) assert.equal((await p.closed).code, 4003, 'room_closed: ended, not kicked');
      const again = await ctl(['end', '--room', 'endme']);
      expectExit(again, 1);
      assert.match(again.stderr, /no meeting is running in room "endme"/);
      expectJsonError(await ctl(['--json', 'end', '--room', 'endme']), 1, 'not_found');
      expectExit(await ctl(['end', '--room', 'bad room']), 2);
      expectExit(await ctl(['end']), 2);
      assert.match((await ctl(['audit'])).stdout, /\sroom\.end\s+admin\s/);
    });

    test('audit shows the admin events', async () => {
      const r = await ctl(['audit']);
      expectExit(r, 0);
      assert.match(r.stdout.split('\n')[0]!, /^TIME\s+EVENT\s+ACTOR\s+DETAILS$/);
      for (const type of ['user.add', 'user.passwd', 'user.remove', 'token.issue', 'token.revoke', 'ip.add', 'ip.revoke', 'ip.revoke_all']) {
        assert.match(r.stdout, new RegExp(`\\s${type.replace('.', '\\.')}\\s+admin\\s`), `${type} missing:\n${r.stdout}`);
      }
      assert.match(r.stdout, /ip\.revoke\s+admin\s+ip=203\.0\.113\.7/);
      const j = parseJson(await ctl(['--json', 'audit', '-n', '2']));
      assert.equal(j.events.length, 2);
      assert.deepEqual(j.events, readDb(d).audit.slice(-2));
      expectExit(await ctl(['audit', '-n', '0']), 2);
    });
  });

  test('--json prints parseable JSON for every command', async () => {
    const runs: [string[], number][] = [
      [['user', 'list'], 0],
      [['user', 'remove', 'nobody'], 1],
      [['token', 'list'], 0],
      [['token', 'issue', '--room', 'json-room'], 0],
      [['token', 'revoke', 'nosuchtokenid123'], 1],
      [['ip', 'list'], 0],
      [['ip', 'revoke', '192.0.2.1'], 1],
      [['ip', 'revoke'], 2],
      [['status'], 0],
      [['rooms'], 0],
      [['kick', '--room', 'r', '--peer', 'p'], 1],
      [['audit'], 0],
      [['no-such-command'], 2],
      [['user'], 2],
      [['user', 'list', 'extra'], 2],
    ];
    for (const [args, exit] of runs) {
      const r = await ctl(['--json', ...args]);
      expectExit(r, exit);
      const body = parseJson(r);
      if (exit !== 0) expectJsonError(r, exit);
      else assert.ok(body && typeof body === 'object' && !('error' in body), show(r));
    }
    // --json after the command works too.
    assert.ok(Array.isArray(parseJson(await ctl(['user', 'list', '--json'])).users));
  });

  test('CONFD_SOCKET and --config FILE resolve the socket', async () => {
    const viaEnv = await confctl(['--json', 'status'], { env: { CONFD_SOCKET: d.socket } });
    expectExit(viaEnv, 0);
    assert.equal(parseJson(viaEnv).pid, d.proc.pid);

    const dir = tempDir();
    try {
      const bySocket = join(dir, 'socket.json');
      writeFileSync(bySocket, JSON.stringify({ admin: { socket: d.socket } }));
      const a = await confctl(['--config', bySocket, '--json', 'status']);
      expectExit(a, 0);
      assert.equal(parseJson(a).pid, d.proc.pid);

      const byDataDir = join(dir, 'datadir.json');
      writeFileSync(byDataDir, JSON.stringify({ dataDir: d.dataDir }));
      const b = await confctl(['--config', byDataDir, 'status', '--json']);
      expectExit(b, 0);
      assert.equal(parseJson(b).pid, d.proc.pid);
      const c = await confctl(['--json', 'status'], { env: { CONFD_CONFIG: byDataDir } });
      expectExit(c, 0);
      assert.equal(parseJson(c).pid, d.proc.pid);

      // --socket wins over CONFD_SOCKET.
      const missing = join(dir, 'missing.sock');
      const e = await confctl(['--socket', missing, 'status'], { env: { CONFD_SOCKET: d.socket } });
      expectExit(e, 3);
      assert.ok(e.stderr.includes(missing), e.stderr);

      const noFile = await confctl(['--config', join(dir, 'nope.json'), 'status']);
      expectExit(noFile, 2);
      assert.match(noFile.stderr, /cannot read config file/);
    } finally {
      cleanup(dir);
    }
  });
});

describe('confctl without a daemon', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => cleanup(dir));

  test('a missing socket path: exit 3, the message names the path', async () => {
    const sock = join(dir, 'nothing-here.sock');
    const r = await confctl(['--socket', sock, 'status']);
    expectExit(r, 3);
    assert.ok(r.stderr.includes(sock), r.stderr);
    assert.match(r.stderr, /no socket there/);
    const j = expectJsonError(await confctl(['--socket', sock, '--json', 'user', 'list']), 3, 'unreachable');
    assert.ok(j.message.includes(sock), j.message);
    const env = await confctl(['ip', 'list'], { env: { CONFD_SOCKET: sock } });
    expectExit(env, 3);
    assert.ok(env.stderr.includes(sock), env.stderr);
  });

  test('a stale socket file: exit 3, the message names the path', async () => {
    const sock = join(dir, 'stale.sock');
    makeStaleSocket(sock);
    const r = await confctl(['--socket', sock, 'token', 'list']);
    expectExit(r, 3);
    assert.ok(r.stderr.includes(sock), r.stderr);
    assert.match(r.stderr, /stale/);
    const j = expectJsonError(await confctl(['--socket', sock, '--json', 'status']), 3, 'unreachable');
    assert.ok(j.message.includes(sock), j.message);
  });

  test('unknown command and no command are usage errors (exit 2); --help and --version exit 0', async () => {
    const unknown = await confctl(['frobnicate']);
    expectExit(unknown, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    expectExit(await confctl([]), 2);
    expectExit(await confctl(['token']), 2);
    expectExit(await confctl(['--no-such-flag', 'status']), 2);
    const help = await confctl(['--help']);
    expectExit(help, 0);
    assert.match(help.stdout, /^Usage: confctl /m);
    for (const cmd of ['user', 'token', 'ip', 'status', 'cluster', 'rooms', 'end', 'kick', 'audit']) assert.match(help.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
    const sub = await confctl(['token', 'issue', '--help']);
    expectExit(sub, 0);
    assert.match(sub.stdout, /--ttl/);
    const version = await confctl(['--version']);
    expectExit(version, 0);
    assert.equal(version.stdout.trim(), VERSION);
  });
});
