import { isIPv6 } from 'node:net';

/**
 * The rate-limit key of a client address: an IPv4 address as is (also when IPv4-mapped,
 * `::ffff:a.b.c.d`), an IPv6 address by its /64 prefix — one subscriber usually holds a whole
 * /64, so limiting single IPv6 addresses would limit nothing.
 */
export function ipKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
