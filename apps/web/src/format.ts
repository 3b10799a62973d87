/** `?server=ws://…` wins; otherwise the gateway is expected on the page's own origin. */
export function gatewayUrl(location: Pick<Location, 'search' | 'protocol' | 'host'>): string {
  const param = new URLSearchParams(location.search).get('server');
  if (param && /^wss?:\/\//.test(param)) return param;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/v1/ws`;
}

/** 60 digits in 12 groups of 5, as the phone shows them. */
export function formatSafetyNumber(n: string): string {
  return n.replace(/(\d{5})(?=\d)/g, '$1 ');
}
