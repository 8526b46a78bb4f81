/**
 * The netlink addon (native/netlink.c) on its own: a pinned namespace, a veth pair wired into a
 * bridge with address, route and MAC, the kernel's errors named by step, and the detach that a
 * stopped container's host end gets. Everything lives in a namespace and a bridge made here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netlinkAddon } from '../../src/sys/netlink.js';
import { unmount } from '../../src/sys/fs.js';
import { run } from '../helpers/exec.js';

const tag = (process.pid % 0xffff).toString(16).padStart(4, '0');
const BRIDGE = `bnlt${tag}`;
const HOST_END = `vnlt${tag}`;

async function ip(args: string[], netns?: string): Promise<string> {
  const r = netns ? await run('nsenter', [`--net=${netns}`, 'ip', ...args]) : await run('ip', args);
  assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('netlink addon: namespace, veth pair, address, route, bridge port, errors, detach', async (t) => {
  const addon = netlinkAddon();
  if (!addon) {
    t.skip('native/netlink.node was not built');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'berth-netlink-'));
  const netns = join(dir, 'ns');
  try {
    await ip(['link', 'add', BRIDGE, 'type', 'bridge']);
    await ip(['addr', 'add', '10.231.61.1/24', 'dev', BRIDGE]);
    await ip(['link', 'set', BRIDGE, 'up']);
    await writeFile(netns, '');
    await addon.createNetns(netns);
    assert.match(await ip(['-o', 'link'], netns), /^1: lo:/m, 'a fresh namespace has only lo');

    await addon.addVeth(netns, { inside: 'eth0', hostName: HOST_END, bridge: BRIDGE, mac: '02:42:0a:e7:3d:05', address: '10.231.61.5', prefixLength: 24, gateway: '10.231.61.1', mtu: 1400, loopback: true });
    const inside = await ip(['-o', 'addr', 'show', 'dev', 'eth0'], netns);
    assert.match(inside, /inet 10\.231\.61\.5\/24 scope global eth0/);
    const link = await ip(['-o', 'link', 'show', 'dev', 'eth0'], netns);
    assert.match(link, /mtu 1400/);
    assert.match(link, /link\/ether 02:42:0a:e7:3d:05/);
    assert.match(await ip(['route'], netns), /^default via 10\.231\.61\.1 dev eth0/m);
    assert.match(await ip(['-o', 'link', 'show', 'dev', 'lo'], netns), /[<,]UP[,>]/);
    assert.match(await ip(['-o', 'link', 'show', 'dev', HOST_END]), new RegExp(`master ${BRIDGE} state UP`));
    const ping = await run('nsenter', [`--net=${netns}`, 'busybox', 'ping', '-c', '1', '-W', '2', '10.231.61.1']);
    assert.equal(ping.code, 0, `the container end reaches the bridge: ${ping.stdout}${ping.stderr}`);

    await assert.rejects(addon.addVeth(netns, { inside: 'eth0', hostName: `${HOST_END}x`, bridge: BRIDGE, address: '10.231.61.6', prefixLength: 24, loopback: false }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EEXIST');
      assert.match(err.message, /creating the veth pair: File exists/);
      return true;
    });
    await assert.rejects(addon.addVeth(netns, { inside: 'eth1', hostName: `${HOST_END}y`, bridge: 'no-such-br', address: '10.231.61.7', prefixLength: 24, loopback: false }), /finding the bridge/);
    assert.throws(() => addon.addVeth(netns, { inside: 'eth1', hostName: 'h', bridge: BRIDGE, address: 'not-an-ip', prefixLength: 24, loopback: false }), /spec.address must be an IPv4 address/);
    assert.equal((await run('ip', ['link', 'show', `${HOST_END}x`])).code, 1, 'a failed request leaves no link behind');

    assert.equal(await addon.detachLink(HOST_END), true);
    const detached = await ip(['-o', 'link', 'show', 'dev', HOST_END]);
    assert.doesNotMatch(detached, /master/);
    assert.match(detached, /state DOWN/);
    assert.equal(await addon.detachLink(`${HOST_END}z`), false, 'an absent link is reported, not an error');
  } finally {
    await unmount(netns).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await run('ip', ['link', 'del', HOST_END]);
    await run('ip', ['link', 'del', BRIDGE]);
  }
});
