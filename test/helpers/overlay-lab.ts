/**
 * A bare underlay for the overlay benchmark: a host bridge with a /24 of 10.213.0.0/16, and N
 * named network namespaces ("nodes") plugged into it by veths, each with one address; berthds
 * start inside them with startDaemon({ netns }) and are driven over their unix sockets (the
 * integration test uses the netns machines of test/helpers/machines.ts instead, which add TLS
 * listeners and their own hostnames). Names carry a random tag so concurrent runs never meet;
 * stop() deletes the veths, the namespaces, the bridge and the FORWARD rule.
 */
import { randomBytes } from 'node:crypto';
import { run } from './exec.js';

export interface LabNode {
  /** Named netns: /run/netns/NAME. */
  netns: string;
  /** Its underlay address. */
  ip: string;
  /** The underlay interface inside the namespace. */
  dev: string;
}

export interface UnderlayLab {
  bridge: string;
  /** The host's address on the bridge (etcd listens there). */
  hostIp: string;
  /** 10.213.N.0/24 */
  subnet: string;
  nodes: LabNode[];
  /** Runs a command inside a node's namespace (no container): ip, bridge, ping. */
  exec(node: LabNode, file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<string[]>;
}

async function must(file: string, args: string[]): Promise<string> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A /24 of 10.213.0.0/16 no route of the host touches (the overlay tests take 10.214.N.0/24 with it). */
export async function freeUnderlaySubnet(): Promise<{ octet: number; subnet: string; hostIp: string }> {
  const routes = await must('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = Math.floor(Math.random() * 256);
    if (!routes.includes(`10.213.${n}.`) && !routes.includes(`10.214.${n}.`)) return { octet: n, subnet: `10.213.${n}.0/24`, hostIp: `10.213.${n}.1` };
  }
  throw new Error('no free /24 in 10.213.0.0/16');
}

export async function createUnderlay(count: number): Promise<UnderlayLab> {
  const tag = randomBytes(2).toString('hex');
  const { octet } = await freeUnderlaySubnet();
  const bridge = `bovl${tag}`;
  const hostIp = `10.213.${octet}.1`;
  const nodes: LabNode[] = [];
  const forwardRule = ['-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
  const lab: UnderlayLab = {
    bridge,
    hostIp,
    subnet: `10.213.${octet}.0/24`,
    nodes,
    exec: (node, file, args) => run('ip', ['netns', 'exec', node.netns, file, ...args]),
    async stop() {
      const problems: string[] = [];
      // Deleting the host ends first: a namespace's veths otherwise vanish only some time after `netns del`.
      for (let i = 0; i < nodes.length; i++) await run('ip', ['link', 'del', `bovl${tag}v${i}`]);
      for (const node of nodes) {
        const r = await run('ip', ['netns', 'del', node.netns]);
        if (r.code !== 0 && !/No such file/.test(r.stderr)) problems.push(`ip netns del ${node.netns}: ${r.stderr.trim()}`);
      }
      await run('iptables', ['-w', '-D', 'FORWARD', ...forwardRule]);
      const r = await run('ip', ['link', 'del', bridge]);
      if (r.code !== 0 && !/Cannot find/.test(r.stderr)) problems.push(`ip link del ${bridge}: ${r.stderr.trim()}`);
      const left = await run('ip', ['-o', 'link', 'show']);
      for (const line of left.stdout.split('\n')) if (line.includes(`bovl${tag}`)) problems.push(`left behind: ${line.trim()}`);
      return problems;
    },
  };
  try {
    await must('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await must('ip', ['addr', 'add', `${hostIp}/24`, 'dev', bridge]);
    await must('ip', ['link', 'set', bridge, 'up']);
    // br_netfilter sends bridged frames through FORWARD; a DROP policy must not eat the underlay.
    await must('iptables', ['-w', '-I', 'FORWARD', '1', ...forwardRule]);
    for (let i = 0; i < count; i++) {
      const node: LabNode = { netns: `bovl${tag}-${i}`, ip: `10.213.${octet}.${11 + i}`, dev: 'eth0' };
      await must('ip', ['netns', 'add', node.netns]);
      nodes.push(node);
      const hostEnd = `bovl${tag}v${i}`;
      await must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', node.dev, 'netns', node.netns]);
      await must('ip', ['link', 'set', hostEnd, 'master', bridge, 'up']);
      await must('ip', ['-n', node.netns, 'addr', 'add', `${node.ip}/24`, 'dev', node.dev]);
      await must('ip', ['-n', node.netns, 'link', 'set', node.dev, 'up']);
      await must('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await lab.stop();
    throw err;
  }
  return lab;
}
