// PEM blocks from a PKCS#12 (PFX) file with an empty password, through node-forge (node:crypto
// cannot read PKCS#12). tls.ts loads this module only when a PFX shows up, by a path relative to
// itself: node-forge is large and most clusters never need it, and the bundle
// (scripts/bundle.mjs) keeps it a file of its own.
import forge from 'node-forge';

export interface PemBlock {
  type: string;
  text: string;
}

/** The certificates and keys of a PFX; `unreadable` throws when it is not one with an empty password. */
export function pfxBlocks(data: Buffer, unreadable: (err: unknown) => never): PemBlock[] {
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
    if (bag.cert) blocks.push({ type: 'CERTIFICATE', text: forge.pki.certificateToPem(bag.cert) });
    else if (bag.asn1) blocks.push({ type: 'CERTIFICATE', text: pem('CERTIFICATE', bag.asn1) });
  }
  for (const oid of [forge.pki.oids.pkcs8ShroudedKeyBag, forge.pki.oids.keyBag]) {
    for (const bag of bagsOf(oid)) {
      if (bag.key) blocks.push({ type: 'RSA PRIVATE KEY', text: forge.pki.privateKeyToPem(bag.key) });
      else if (bag.asn1) blocks.push({ type: 'PRIVATE KEY', text: pem('PRIVATE KEY', bag.asn1) });
    }
  }
  return blocks;
}
