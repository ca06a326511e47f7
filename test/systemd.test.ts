import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir, cleanup } from './helpers/daemon.ts';

const unit = readFileSync(join(ROOT, 'systemd/confd.service'), 'utf8');
const directives = new Map<string, string[]>();
for (const line of unit.split('\n')) {
  const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
  if (m) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
}
const one = (k: string) => directives.get(k)?.[0];

test('systemd unit: hardened, least privilege, state/runtime/config directories, restart on failure', () => {
  for (const [k, v] of Object.entries({
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    StateDirectory: 'confd',
    RuntimeDirectory: 'confd',
    ConfigurationDirectory: 'confd',
    Restart: 'on-failure',
    User: 'confd',
  })) {
    assert.equal(one(k), v, `${k}=${v}`);
  }
  assert.match(one('RestrictAddressFamilies') ?? '', /AF_UNIX AF_INET AF_INET6/);
  assert.equal(one('CapabilityBoundingSet'), '');
  // V8's JIT needs W+X pages: Node aborts at start under MemoryDenyWriteExecute.
  assert.equal(directives.has('MemoryDenyWriteExecute'), false);
  assert.match(one('ExecStart') ?? '', /bin\/confd start/);
});

test('systemd unit: systemd-analyze verify is clean', (t) => {
  const probe = spawnSync('systemd-analyze', ['--version']);
  if (probe.error) {
    // CI installs systemd (see .ci/run); a developer machine without it is told plainly.
    console.warn('\n!!! SKIPPED: systemd-analyze is not installed; apt-get install systemd to run this check !!!\n');
    t.skip('systemd-analyze not installed');
    return;
  }
  const dir = tempDir();
  const file = join(dir, 'confd.service');
  // Point the unit at this checkout so the ExecStart binary exists for the check.
  writeFileSync(file, unit.replaceAll('/opt/confd', ROOT));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  cleanup(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', r.stderr);
});

test('install recipe (docs/deployment.md): /etc/confd and its config are readable by the confd group, not by others', () => {
  const readme = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
  const recipe = /## Running under systemd\n\n```sh\n([^]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(recipe, /useradd --system --user-group [^\n]* confd\n/, 'the confd user gets its confd group');
  // The service runs as User=confd Group=confd with a root-owned config: it reads through the group.
  assert.match(recipe, /install -d -o root -g confd -m 0750 \/etc\/confd\b/);
  assert.match(recipe, /install -o root -g confd -m 0640 config\/confd\.example\.json \/etc\/confd\/confd\.json/);
  assert.doesNotMatch(recipe, /cp [^\n]*\/etc\/confd/, 'a plain cp leaves the file root:root, unreadable through a 0750 directory');
  assert.equal(one('Group'), 'confd');
  assert.match(one('ExecStart') ?? '', /--config \/etc\/confd\/confd\.json/);
});

