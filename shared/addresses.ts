/**
 * Which IP addresses the control plane refuses to send requests to (SSRF through a webhook
 * URL or a failsafe peer URL). Used at config load on literal addresses, and at send time
 * on every address a host name resolves to (a DNS name can be pointed anywhere after the
 * config was checked).
 */
import { BlockList, isIP } from 'node:net';

/**
 * - metadata: the instance metadata / task credential endpoints: never a receiver, never allowed.
 * - special: unspecified (0.0.0.0 reaches loopback on Linux), multicast, broadcast,
 *   documentation and other reserved ranges: never allowed.
 * - loopback, link-local, private (RFC 1918, CGNAT, IPv6 ULA): allowed only where the
 *   config says so (`allowPrivateAddress` on a webhook target).
 */
export type AddressClass = 'metadata' | 'special' | 'loopback' | 'link-local' | 'private';

const RANGES: ReadonlyArray<[AddressClass, 'ipv4' | 'ipv6', string, number]> = [
  ['metadata', 'ipv4', '169.254.169.254', 32],
  ['metadata', 'ipv4', '169.254.170.2', 32], // ECS task credentials
  ['metadata', 'ipv6', 'fd00:ec2::254', 128],
  ['special', 'ipv4', '0.0.0.0', 8],
  ['special', 'ipv4', '192.0.0.0', 24],
  ['special', 'ipv4', '192.0.2.0', 24],
  ['special', 'ipv4', '198.18.0.0', 15],
  ['special', 'ipv4', '198.51.100.0', 24],
  ['special', 'ipv4', '203.0.113.0', 24],
  ['special', 'ipv4', '224.0.0.0', 4],
  ['special', 'ipv4', '240.0.0.0', 4], // reserved, and 255.255.255.255
  ['special', 'ipv6', '::', 128],
  ['special', 'ipv6', '2001:db8::', 32],
  ['special', 'ipv6', 'ff00::', 8],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['loopback', 'ipv6', '::1', 128],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['private', 'ipv4', '100.64.0.0', 10],
  ['private', 'ipv6', 'fc00::', 7],
];

// One list per class, checked in RANGES order: the metadata address is also link-local.
const CLASSES: ReadonlyArray<[AddressClass, BlockList]> = (() => {
  const lists = new Map<AddressClass, BlockList>();
  for (const [cls, family, network, prefix] of RANGES) {
    const list = lists.get(cls) ?? new BlockList();
    list.addSubnet(network, prefix, family);
    lists.set(cls, list);
  }
  return [...lists];
})();

/** The class of an IP address that is not a public unicast one, or undefined for a public one. */
export function addressClass(ip: string): AddressClass | undefined {
  const family = isIP(ip);
  if (family === 0) throw new TypeError(`not an IP address: ${ip}`);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d, or its hex form) reaches the IPv4 address.
  const mapped = family === 6 ? mappedIpv4(ip) : undefined;
  const [address, type] = mapped
    ? [mapped, 'ipv4' as const]
    : [ip, family === 4 ? ('ipv4' as const) : ('ipv6' as const)];
  return CLASSES.find(([, list]) => list.check(address, type))?.[0];
}

function mappedIpv4(ip: string): string | undefined {
  const m = /^(?:0{0,4}:){0,5}:?ffff:(.+)$/i.exec(ip.replace(/^\[|\]$/g, ''));
  if (!m?.[1]) return undefined;
  if (isIP(m[1]) === 4) return m[1];
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(m[1]);
  if (!hex) return undefined;
  const [hi, lo] = [Number.parseInt(hex[1] as string, 16), Number.parseInt(hex[2] as string, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** What a request may reach beyond public addresses. */
export interface AddressPolicy {
  /** Loopback, link-local and private addresses (metadata and special ones never). */
  allowPrivate: boolean;
}

/** Why `ip` is refused under `policy` ("169.254.169.254 is the instance metadata address"), or undefined. */
export function refusedAddress(ip: string, policy: AddressPolicy): string | undefined {
  const cls = addressClass(ip);
  if (cls === undefined) return undefined;
  if (cls === 'metadata') return `${ip} is an instance metadata or credentials address`;
  if (cls === 'special') return `${ip} is an unspecified, multicast or reserved address`;
  if (policy.allowPrivate) return undefined;
  return `${ip} is a ${cls} address (set allowPrivateAddress: true on the target to allow it)`;
}

/** The IP address a URL's host names literally (IPv6 without brackets), or undefined for a host name. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : undefined;
}
