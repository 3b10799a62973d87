import { describe, expect, it } from '@jest/globals';
import { ipKey } from '../../src/limits/ip-key.js';

describe('ipKey', () => {
  it('keeps IPv4 addresses and unwraps IPv4-mapped IPv6', () => {
    expect(ipKey('203.0.113.9')).toBe('203.0.113.9');
    expect(ipKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
  });

  it('groups IPv6 addresses by /64', () => {
    const a = ipKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002::1')).toBe(a);
    expect(ipKey('2001:db8:1:3::1')).not.toBe(a);
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
  });
});
