// The certificate-lifecycle entry point for commands that run on the operator's machine: the TLS probe and grade,
// compliance rules and certificate-file reading. It leaves out the CA, the store, gRPC and the server.
export { probeTls, type TlsProbeOptions, type TlsProbeReport, PROTOCOLS } from './lifecycle/tls-probe.ts';
export { gradeTls, parseHsts, type TlsGrade, type Grade } from './lifecycle/tls-grade.ts';
export { type Finding, sortFindings } from './lifecycle/compliance-rules.ts';
export { parseHostPort } from './lifecycle/host-port.ts';
export { readCertificateFile, type ReadCertificate } from './lifecycle/certificate-files.ts';
export { fetchServedChain, type ServedChain } from './lifecycle/served-chain.ts';
