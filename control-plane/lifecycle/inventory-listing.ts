import { createHash } from 'node:crypto';
import { parseX509Facts } from '../../common/x509-facts.ts';
import type {
  CertificateKind,
  InventoryListingFacts,
  InventoryListingRow,
  InventoryListingWrite,
  SightingRecord,
  UnlistedCertificate,
} from '../store/store.ts';
import {
  type CertificateDescription,
  describeCertificate,
  type InventoryEntry,
  type InventorySource,
  keyOf,
  nameOf,
  sourceOfKind,
} from './inventory-entry.ts';

/** The listing's columns of a certificate already described (an import parses it anyway). */
export function listingFactsOf(d: CertificateDescription): InventoryListingFacts {
  return {
    id: d.fingerprintSha256,
    serial: d.serial,
    subject: d.subject,
    issuer: d.issuer,
    notBefore: d.notBefore,
    notAfter: d.notAfter,
    keyAlgorithm: d.keyAlgorithm,
    keyBits: d.keyBits,
    isCa: d.isCa,
    uris: d.uris,
    dnsNames: d.dnsNames,
  };
}

/**
 * The listing row of a certificate recorded without one (issued by the CA, or stored before the listing existed).
 * Reads only what the listing needs (no signature check), which is the cost of catching up. A DER that no longer
 * parses gets a row with its id and names only, so the catch-up never retries it forever.
 */
export function listingWriteOf(c: UnlistedCertificate): InventoryListingWrite {
  const id = createHash('sha256').update(c.der).digest('hex');
  const source = c.origin === 'ca' ? sourceOfKind(c.kind as CertificateKind) : c.source;
  try {
    const f = parseX509Facts(c.der);
    const uris = f.uriSans;
    const facts: InventoryListingFacts = {
      id,
      serial: f.serial,
      subject: f.subject,
      issuer: f.issuer,
      notBefore: f.notBefore,
      notAfter: f.notAfter,
      ...keyOf(f),
      isCa: f.isCa,
      uris,
      dnsNames: f.dnsSans,
    };
    const name = c.name || uris[0] || f.dnsSans[0] || f.subject;
    return { origin: c.origin, ref: c.ref, source, kind: c.kind, name, facts };
  } catch {
    const facts: InventoryListingFacts = {
      id,
      serial: c.origin === 'ca' ? c.ref : '',
      subject: '',
      issuer: '',
      notBefore: 0,
      notAfter: 0,
      keyAlgorithm: '',
      keyBits: 0,
      isCa: false,
      uris: [],
      dnsNames: [],
    };
    return { origin: c.origin, ref: c.ref, source, kind: c.kind, name: c.name, facts };
  }
}

/** The full entry of one listing row read with its certificate: the only place a listed DER is parsed. */
export function entryOfListing(row: InventoryListingRow, seen: readonly SightingRecord[]): InventoryEntry {
  const der = row.der ?? new Uint8Array();
  const d = describeCertificate(der);
  return {
    ...d,
    id: row.facts.id,
    source: row.source as InventorySource,
    kind: row.kind as CertificateKind | '',
    name: row.name || nameOf(d),
    owner: row.owner,
    labels: row.labels,
    status: row.status,
    recordedStatus: row.recordedStatus,
    supersededBy: row.supersededBy,
    der,
    chain: row.chain ?? [],
    seen: seen.map((s) => ({ location: s.location, firstSeen: s.firstSeen, lastSeen: s.lastSeen })),
  };
}
