import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { WireRequest } from './sigv4';
import { parseAuthorization, signatureMatches, signedHeaders } from './sigv4';

/** Requests exactly as the AWS SDK sends them, captured by a local server that refuses them all. */
let server: http.Server;
let endpoint: string;
const captured: WireRequest[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      captured.push({
        method: req.method ?? '',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'ValidationException', message: 'captured' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => new Promise((resolve) => server.close(resolve)));

const credentials = {
  accessKeyId: 'ASIAEXAMPLEKEY',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token',
};

async function capture(send: () => Promise<unknown>): Promise<WireRequest> {
  captured.length = 0;
  await send().catch(() => undefined);
  const request = captured[0];
  if (!request) throw new Error('nothing captured');
  return request;
}

describe('SigV4 verification of requests the AWS SDK signs', () => {
  const config = { region: 'ap-northeast-1', credentials, maxAttempts: 1 };
  it.each<[string, () => Promise<unknown>]>([
    [
      'Secrets Manager (JSON)',
      () =>
        new SecretsManagerClient({ ...config, endpoint }).send(
          new GetSecretValueCommand({ SecretId: 'MyDBSecret', VersionStage: 'AWSCURRENT' }),
        ),
    ],
    [
      'SSM (JSON, names with slashes)',
      () =>
        new SSMClient({ ...config, endpoint }).send(
          new GetParametersCommand({ Names: ['/sample-app/db/password'], WithDecryption: true }),
        ),
    ],
    ['STS (query)', () => new STSClient({ ...config, endpoint }).send(new GetCallerIdentityCommand({}))],
  ])('%s: the right secret matches, a wrong secret or a changed body does not', async (_name, send) => {
    const request = await capture(send);
    const authorization = parseAuthorization(String(request.headers.authorization));
    expect(authorization).toMatchObject({
      accessKeyId: 'ASIAEXAMPLEKEY',
      region: 'ap-northeast-1',
      signedHeaders: expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']),
    });
    if (!authorization) return;
    expect(signatureMatches(request, authorization, credentials.secretAccessKey)).toBe(true);
    expect(signatureMatches(request, authorization, 'another-secret')).toBe(false);
    const changed = { ...request, body: Buffer.from(request.body.toString().replace(/a/, 'b')) };
    expect(signatureMatches(changed, authorization, credentials.secretAccessKey)).toBe(false);
    const otherToken = { ...request, headers: { ...request.headers, 'x-amz-security-token': 'forged' } };
    expect(signatureMatches(otherToken, authorization, credentials.secretAccessKey)).toBe(false);
  });
});

describe('signedHeaders (the gate client) and the verifier agree', () => {
  it.each([
    [
      'a REST path with a query',
      'http://127.0.0.1:15000/clusters/lab/pod-identity-associations?namespace=a&serviceAccount=b c',
    ],
    ['a path with encoded characters', 'http://127.0.0.1:15000/clusters/lab/pod-identity-associations/a%2Fb'],
    ['the root path', 'http://127.0.0.1:15000/'],
  ])('%s', (_name, url) => {
    const target = new URL(url);
    const body = Buffer.from('{"namespace":"a"}');
    const headers = signedHeaders(
      { method: 'POST', url: target, headers: { 'Content-Type': 'application/json' }, body },
      credentials,
      'ap-northeast-1',
      'eks',
    );
    const request = { method: 'POST', url: `${target.pathname}${target.search}`, headers, body };
    const authorization = parseAuthorization(headers.authorization);
    expect(authorization?.service).toBe('eks');
    expect(authorization && signatureMatches(request, authorization, credentials.secretAccessKey)).toBe(true);
    expect(authorization && signatureMatches(request, authorization, 'wrong')).toBe(false);
  });

  it('refuses an Authorization header that is not SigV4', () => {
    expect(parseAuthorization('Bearer eyJ...')).toBeUndefined();
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=a/b, Signature=c')).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
  });
});
