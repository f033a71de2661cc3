import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatHostPort, parseHostPort } from '../../common/address.ts';

/**
 * Expands `name:port` into one `ip:port` per address the name resolves to (a DNS name with one A record per
 * control-plane replica), so failover tries each replica; an IP address is returned as it is.
 */
export async function dnsAddresses(address: string): Promise<string[]> {
  const { host, port } = parseHostPort(address);
  if (isIP(host) !== 0) return [address];
  const found = await lookup(host, { all: true });
  return found.map((a) => formatHostPort({ host: a.address, port }));
}
