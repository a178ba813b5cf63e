import { createLogger, REDACTED, redactLine } from './logger';

function capture(json: boolean): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({
    name: 't',
    json,
    verbosity: 0,
    destination: { write: (l) => lines.push(l) },
  });
  return { lines, logger };
}

describe('createLogger redaction', () => {
  const secret = 'hunter2-very-secret';

  it.each([
    ['at the top level', { token: secret }],
    ['one level down', { request: { secrets: secret } }],
    ['two levels down', { a: { b: { password: secret } } }],
    ['five levels down', { a: { b: { c: { d: { sessionToken: secret } } } } }],
    ['inside an array', { files: [{ path: 'f', contents: secret }] }],
    ['a key with dots and a slash', { attributes: { 'csi.storage.k8s.io/serviceAccount.tokens': secret } }],
    ['under an HTTP header name', { headers: { Authorization: `Bearer ${secret}` } }],
    ['under the AWS security token header', { headers: { 'X-Amz-Security-Token': secret } }],
    [
      "in STS's credentials",
      { Credentials: { AccessKeyId: 'AKIA', SecretAccessKey: secret, SessionToken: secret } },
    ],
    ["in STS's request", { WebIdentityToken: secret, RoleArn: 'arn:aws:iam::1:role/r' }],
    ['under an OAuth field name', { accessToken: secret }],
    ['under a key spelled with a Unicode letter that folds to ASCII', { ['to\u212Aen']: secret }],
    ["in a Kubernetes Secret's data", { secret: { metadata: { name: 's' }, data: { key: secret } } }],
    ["in a Kubernetes Secret's stringData", { object: { kind: 'Secret', stringData: { key: secret } } }],
  ])('never writes a secret %s, as JSON or as text', (_where, fields) => {
    for (const json of [true, false]) {
      const { lines, logger } = capture(json);
      logger.info(fields, 'something happened');
      expect(lines).toHaveLength(1);
      expect(lines[0]).not.toContain(secret);
      expect(lines[0]).toContain(REDACTED);
      expect(lines[0]).toContain('something happened');
    }
  });

  it("redacts a child logger's bindings and an error's own fields", () => {
    const { lines, logger } = capture(true);
    logger.child({ authorization: `Bearer ${secret}` }).info('from a child');
    const err = Object.assign(new Error('failed'), { token: secret });
    logger.error({ err }, 'with an error');
    expect(lines.join('')).not.toContain(secret);
    const withError = JSON.parse(lines[1] ?? '') as {
      err: { message: string; token: string; stack: string };
    };
    expect(withError.err.message).toBe('failed');
    expect(withError.err.token).toBe(REDACTED);
    expect(withError.err.stack).toContain('Error: failed');
  });

  it('leaves lines without secret keys as pino wrote them', () => {
    const { lines, logger } = capture(true);
    logger.info({ targetPath: '/t', objects: 2, tokenCount: 1 }, 'node publish volume complete');
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(line).toMatchObject({
      targetPath: '/t',
      objects: 2,
      tokenCount: 1,
      msg: 'node publish volume complete',
    });
  });

  it('withholds a line it cannot parse instead of writing it unchecked', () => {
    const out = redactLine(`{"token":"${secret}"`);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/withheld/);
  });
});
