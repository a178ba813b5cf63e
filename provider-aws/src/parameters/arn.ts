// ARNs: arn:partition:service:region:account-id:resource (the resource may contain colons).

export interface Arn {
  partition: string;
  service: string;
  region: string;
  accountId: string;
  resource: string;
}

export function parseArn(text: string): Arn | undefined {
  const parts = text.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition, service, region, accountId] = parts as [string, string, string, string, string];
  const resource = parts.slice(5).join(':');
  if (!partition || !service || !resource) return undefined;
  return { partition, service, region, accountId, resource };
}
