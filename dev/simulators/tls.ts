import { createHash, X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

/** PEM server certificate and private key shared by every simulator. */
export interface TlsMaterial {
  /** PEM certificate; also the trust anchor to put in `NODE_EXTRA_CA_CERTS`. */
  cert: string;
  /** PEM (PKCS#8) private key. */
  key: string;
}

/** A client certificate for an app's certificate credential. */
export interface ClientCertificate {
  /** PEM certificate alone (what an app registration holds). */
  certPem: string;
  /** PEM (PKCS#8) private key alone. */
  keyPem: string;
  /** Certificate followed by its private key, as Key Vault stores `application/x-pem-file`. */
  pem: string;
  /** SHA-1 of the DER certificate, lower-case hex (the `x5t` an assertion carries). */
  thumbprintSha1Hex: string;
  /** SHA-256 of the DER certificate, lower-case hex (the `x5t#S256` an assertion carries). */
  thumbprintSha256Hex: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function validity(days: number): { notBeforeDate: Date; notAfterDate: Date } {
  // Back-dated a little so a clock that lags by a few minutes still accepts it.
  const notBeforeDate = new Date(Date.now() - DAY_MS);
  return { notBeforeDate, notAfterDate: new Date(notBeforeDate.getTime() + days * DAY_MS) };
}

/**
 * A self-signed server certificate for `localhost`, `127.0.0.1` and `::1`.
 *
 * It is its own CA (basicConstraints cA, keyCertSign) because Node only accepts a certificate in
 * `NODE_EXTRA_CA_CERTS` as a trust anchor when it may sign: that is how the SDK clients trust the
 * simulators without ever turning TLS verification off.
 */
export async function createLocalTlsCertificate(): Promise<TlsMaterial> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(30),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A self-signed client certificate with common name `subject`, for `ClientCertificateCredential`. */
export async function createClientCertificate(subject: string): Promise<ClientCertificate> {
  const pems = await generate([{ name: 'commonName', value: subject }], {
    keySize: 2048,
    algorithm: 'sha256',
    ...validity(365),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  const certPem = ensureTrailingNewline(pems.cert);
  const keyPem = ensureTrailingNewline(pems.private);
  const der = new X509Certificate(certPem).raw;
  return {
    certPem,
    keyPem,
    pem: certPem + keyPem,
    thumbprintSha1Hex: createHash('sha1').update(der).digest('hex'),
    thumbprintSha256Hex: createHash('sha256').update(der).digest('hex'),
  };
}

function ensureTrailingNewline(pem: string): string {
  const normalised = pem.replace(/\r\n/g, '\n');
  return normalised.endsWith('\n') ? normalised : `${normalised}\n`;
}
