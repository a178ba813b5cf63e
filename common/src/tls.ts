// kubernetes.io/tls Secrets from a certificate file (the driver's mounted files, the sync controller's
// provider answers): `tls.crt` gets the certificates and `tls.key` the private key (PKCS#1 for RSA,
// SEC1 for EC, as upstream), from a PEM bundle or from a PKCS#12 (PFX) file with an empty password.
// Of several keys the last one counts, as upstream; other blocks such as the `EC PARAMETERS` that
// `openssl ecparam -genkey` writes first are not keys.
import type Forge from 'node-forge';
import crypto from 'node:crypto';

export class TlsError extends Error {
  override name = 'TlsError';
}

interface PemBlock {
  type: string;
  text: string;
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) blocks.push({ type: m[1] as string, text: m[0] });
  return blocks;
}

export interface CertificateOptions {
  /**
   * A PFX's certificates as Go's pkcs12.ToPEM writes them, which upstream's sync controller stores:
   * the bag's friendlyName and localKeyId as PEM headers (sorted, as Go's PEM encoder), LF line
   * ends. Without it, node-forge's PEM (CRLF line ends, no headers).
   */
  pfxBagAttributes?: boolean;
}

/** Go's pem.EncodeToMemory: headers sorted (no Proc-Type here), a blank line, 64-column base64. */
function goPem(type: string, headers: Array<[string, string]>, der: Buffer): string {
  const lines = [`-----BEGIN ${type}-----`];
  for (const [k, v] of [...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    lines.push(`${k}: ${v}`);
  if (headers.length > 0) lines.push('');
  const body = der.toString('base64');
  for (let i = 0; i < body.length; i += 64) lines.push(body.slice(i, i + 64));
  lines.push(`-----END ${type}-----`, '');
  return lines.join('\n');
}

/** The bag attributes Go's pkcs12 keeps as headers (node-forge drops the Microsoft CSP name, as rare). */
function bagHeaders(attributes: Record<string, unknown> | undefined): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const first = (name: string) => (attributes?.[name] as unknown[] | undefined)?.[0];
  const friendlyName = first('friendlyName');
  if (typeof friendlyName === 'string') headers.push(['friendlyName', friendlyName]);
  const localKeyId = first('localKeyId');
  if (typeof localKeyId === 'string')
    headers.push(['localKeyId', Buffer.from(localKeyId, 'binary').toString('hex')]);
  return headers;
}

/** PEM blocks from a PFX with an empty password; node:crypto cannot read PKCS#12, node-forge can. */
function pfxBlocks(data: Buffer, options: CertificateOptions = {}): PemBlock[] {
  // Loaded only when a PFX shows up: it is large and most clusters never need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const forge = require('node-forge') as typeof Forge;
  let p12: Forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(data.toString('binary')), '');
  } catch (err) {
    throw new TlsError(`neither PEM nor a PKCS#12 file with an empty password (${(err as Error).message})`, {
      cause: err,
    });
  }
  const blocks: PemBlock[] = [];
  const bagsOf = (oid: string | undefined) => (oid ? (p12.getBags({ bagType: oid })[oid] ?? []) : []);
  // node-forge decodes RSA certificates and keys only; others come as their ASN.1 structure.
  const pem = (type: string, asn1: Forge.asn1.Asn1) =>
    forge.pem.encode({ type, body: forge.asn1.toDer(asn1).getBytes() });
  for (const bag of bagsOf(forge.pki.oids.certBag)) {
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    if (!asn1) continue;
    const text = options.pfxBagAttributes
      ? goPem(
          'CERTIFICATE',
          bagHeaders(bag.attributes),
          Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'),
        )
      : bag.cert
        ? forge.pki.certificateToPem(bag.cert)
        : pem('CERTIFICATE', asn1);
    blocks.push({ type: 'CERTIFICATE', text });
  }
  for (const oid of [forge.pki.oids.pkcs8ShroudedKeyBag, forge.pki.oids.keyBag]) {
    for (const bag of bagsOf(oid)) {
      if (bag.key) blocks.push({ type: 'RSA PRIVATE KEY', text: forge.pki.privateKeyToPem(bag.key) });
      else if (bag.asn1) blocks.push({ type: 'PRIVATE KEY', text: pem('PRIVATE KEY', bag.asn1) });
    }
  }
  return blocks;
}

function blocksOf(data: Buffer, options?: CertificateOptions): PemBlock[] {
  const blocks = pemBlocks(data.toString('utf8'));
  return blocks.length > 0 ? blocks : pfxBlocks(data, options);
}

/** The certificates of a PEM bundle or PFX, as PEM. */
export function certificatesOf(data: Buffer, options?: CertificateOptions): Buffer {
  const certs = blocksOf(data, options).filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0) throw new TlsError('no certificate found');
  return Buffer.from(certs.map((b) => `${b.text.trim()}\n`).join(''));
}

/** The last private key of a PEM bundle or PFX, as PEM: PKCS#1 for RSA, SEC1 for EC. */
export function privateKeyOf(data: Buffer): Buffer {
  const keyBlock = blocksOf(data)
    .filter((b) => b.type.endsWith('PRIVATE KEY'))
    .at(-1);
  if (!keyBlock) throw new TlsError('no private key found');
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(keyBlock.text);
  } catch (err) {
    throw new TlsError(`the private key cannot be read (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType === 'rsa') return Buffer.from(key.export({ format: 'pem', type: 'pkcs1' }));
  if (key.asymmetricKeyType === 'ec') return Buffer.from(key.export({ format: 'pem', type: 'sec1' }));
  throw new TlsError(`unsupported private key type ${key.asymmetricKeyType}: only RSA and EC are`);
}
