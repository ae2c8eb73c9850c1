// A test CA and certificates, made with the `openssl` command in a temporary
// folder the first time a test asks (never checked in): EC P-256 keys, so
// making them is quick.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CertPair {
  key: string;
  cert: string;
  keyPath: string;
  certPath: string;
}

export interface TestPki {
  dir: string;
  /** The CA certificate (PEM) and its path. */
  ca: string;
  caPath: string;
  /** localhost and 127.0.0.1 */
  server: CertPair;
  /** The same names, a different certificate (rotation). */
  rotated: CertPair;
  /** a.example.test */
  named: CertPair;
  /** *.wild.test */
  wildcard: CertPair;
  /** localhost and 127.0.0.1, self-signed: issued by no CA here. */
  selfSigned: CertPair;
  /** The server's key encrypted with the passphrase 'secret'. */
  encryptedKey: string;
  /** A key that belongs to no certificate here. */
  strayKey: string;
}

let cached: TestPki | undefined;

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, cn: string, san: string): CertPair {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.crt`);
  return { key: fs.readFileSync(keyPath, 'utf8'), cert: fs.readFileSync(certPath, 'utf8'), keyPath, certPath };
}

/** The test PKI (made once per process). */
export function testPki(): TestPki {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-pki-'));
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=corews test CA', '-days', '2', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt']);
  const server = issue(dir, 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  const rotated = issue(dir, 'rotated', 'localhost rotated', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  const named = issue(dir, 'named', 'a.example.test', 'DNS:a.example.test');
  const wildcard = issue(dir, 'wildcard', '*.wild.test', 'DNS:*.wild.test');
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'self.key']);
  openssl(dir, ['req', '-x509', '-new', '-key', 'self.key', '-subj', '/CN=localhost', '-days', '2', '-sha256',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-out', 'self.crt']);
  const selfSigned: CertPair = {
    key: fs.readFileSync(path.join(dir, 'self.key'), 'utf8'),
    cert: fs.readFileSync(path.join(dir, 'self.crt'), 'utf8'),
    keyPath: path.join(dir, 'self.key'),
    certPath: path.join(dir, 'self.crt'),
  };
  openssl(dir, ['pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:secret', '-out', 'server-enc.key']);
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'stray.key']);
  const caPath = path.join(dir, 'ca.crt');
  cached = {
    dir,
    ca: fs.readFileSync(caPath, 'utf8'),
    caPath,
    server,
    rotated,
    named,
    wildcard,
    selfSigned,
    encryptedKey: fs.readFileSync(path.join(dir, 'server-enc.key'), 'utf8'),
    strayKey: fs.readFileSync(path.join(dir, 'stray.key'), 'utf8'),
  };
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return cached;
}
