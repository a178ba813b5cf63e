// PEM blocks from a PKCS#12 (PFX) file with an empty password, through node-forge (node:crypto
// cannot read PKCS#12). tls.ts loads this module only when a PFX shows up, by a path relative to
// itself: node-forge is large and most clusters never need it, and the bundle
// (scripts/bundle.mjs) keeps it a file of its own.
import forge from 'node-forge';

export interface PemBlock {
  type: string;
  text: string;
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

/** The certificates and keys of a PFX; `unreadable` throws when it is not one with an empty password. */
export function pfxBlocks(
  data: Buffer,
  options: CertificateOptions,
  unreadable: (err: unknown) => never,
): PemBlock[] {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(data.toString('binary')), '');
  } catch (err) {
    return unreadable(err);
  }
  const blocks: PemBlock[] = [];
  const bagsOf = (oid: string | undefined) => (oid ? (p12.getBags({ bagType: oid })[oid] ?? []) : []);
  // node-forge decodes RSA certificates and keys only; others come as their ASN.1 structure.
  const pem = (type: string, asn1: forge.asn1.Asn1) =>
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
