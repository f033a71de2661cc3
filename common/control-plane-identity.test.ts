import t from 'tap';
import { makeCert } from '../test/fixtures/cert-factory.ts';
import { checkControlPlaneCertificate } from './control-plane-identity.ts';

const CP = 'spiffe://example.org/sigil/control-plane';

t.test("only the control plane's SVID of the expected trust domain passes", async (t) => {
  const cases: { name: string; uris?: string[]; dnsNames?: string[]; td?: string; error: RegExp | undefined }[] = [
    { name: "the control plane's SVID", uris: [CP], error: undefined },
    { name: 'any trust domain when none is expected', uris: [CP], td: undefined, error: undefined },
    { name: 'a workload SVID', uris: ['spiffe://example.org/ns/a/sa/b'], error: /not a Sigil control plane/ },
    {
      name: 'another trust domain',
      uris: ['spiffe://other.org/sigil/control-plane'],
      error: /trust domain other\.org/,
    },
    {
      name: 'a DNS name and an IP besides (the serving SVID)',
      uris: [CP],
      dnsNames: ['cp.example.org'],
      error: undefined,
    },
    { name: 'two URI SANs', uris: [CP, 'spiffe://example.org/x'], error: /has 2 URI SANs/ },
    { name: 'no SAN', error: /has 0 URI SANs/ },
    { name: 'a URI with a comma', uris: [`${CP},x`], error: /a subjectAltName Sigil does not issue/ },
    { name: 'a URI with a quote', uris: [`${CP}"`], error: /a subjectAltName Sigil does not issue/ },
    {
      name: 'a comma hiding a second entry',
      uris: [`${CP}, URI:spiffe://example.org/x`],
      error: /a subjectAltName Sigil does not issue/,
    },
    { name: 'not a SPIFFE ID', uris: ['https://example.org/sigil/control-plane'], error: /./ },
  ];
  for (const c of cases) {
    const cert = await makeCert({
      ...(c.uris ? { uris: c.uris } : {}),
      ...(c.dnsNames ? { dnsNames: c.dnsNames, ipAddresses: ['127.0.0.1', '::1'] } : {}),
    });
    const td = 'td' in c ? c.td : 'example.org';
    const result = checkControlPlaneCertificate(cert.der, td);
    if (c.error) t.match(result?.message, c.error, c.name);
    else t.equal(result, undefined, c.name);
  }
  t.match(checkControlPlaneCertificate(undefined, 'example.org')?.message, /no certificate/);
});
