// kubernetes.io/tls Secrets from a certificate file (the driver's mounted files, the sync controller's
// provider answers): `tls.crt` gets the certificates and `tls.key` the private key (PKCS#1 for RSA,
// SEC1 for EC, as upstream), from a PEM bundle or from a PKCS#12 (PFX) file with an empty password.
// Of several keys the last one counts, as upstream; other blocks such as the `EC PARAMETERS` that
// `openssl ecparam -genkey` writes first are not keys.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

import type * as Pkcs12 from './pkcs12';
import type { CertificateOptions, PemBlock } from './pkcs12';

export type { CertificateOptions } from './pkcs12';

const requireHere = createRequire(__filename);

export class TlsError extends Error {
  override name = 'TlsError';
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) blocks.push({ type: m[1] as string, text: m[0] });
  return blocks;
}

/** PEM blocks from a PFX with an empty password, by node-forge, loaded on first use (pkcs12.ts). */
function pfxBlocks(data: Buffer, options: CertificateOptions = {}): PemBlock[] {
  const pkcs12 = requireHere('./pkcs12') as typeof Pkcs12;
  return pkcs12.pfxBlocks(data, options, (err) => {
    throw new TlsError(`neither PEM nor a PKCS#12 file with an empty password (${(err as Error).message})`, {
      cause: err,
    });
  });
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
