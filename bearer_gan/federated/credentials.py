"""The credentials of a deployment that only its members join: a TLS chain for the SuperLink, a key pair per SuperNode.

Why a module of its own: Flower's guides make these with ``openssl`` and ``ssh-keygen`` shell
scripts, which a run must not depend on (an offline machine may lack them, and a script cannot
check what it made). Here they are made in Python with the ``cryptography`` package (which
Flower itself imports), fresh for every deployment, and checked before any process gets them:

* a certificate authority (CA), used once to sign the server certificate; its private key is
  never written, so nobody can sign another certificate this deployment would trust;
* the SuperLink's certificate for ``127.0.0.1`` and ``localhost`` (``server.pem``, key
  ``server.key``), which the SuperNodes and the ``flwr`` command line verify against ``ca.pem``;
* one ECDSA P-384 key pair per SuperNode, in OpenSSH format as Flower reads them
  (``supernode-<i>.key``, ``supernode-<i>.pub``): the SuperLink, started with
  ``--enable-supernode-auth``, admits only SuperNodes whose public key was registered with
  ``flwr supernode register``.

Private keys are written with permissions 0600 (the folder 0700) and are created, not
overwritten: a folder that already holds credentials is refused.

A federation whose members were given their files beforehand (``--credentials DIR``) uses them
instead: :func:`load_credentials` checks the same chain and every SuperNode's key pair first, so a
certificate or key that does not match is one line before anything starts.
"""
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ['CredentialError', 'Credentials', 'HOSTS', 'check_server_chain', 'make_credentials', 'load_credentials',
           'superlink_args', 'supernode_args']

#: The names the server certificate is valid for: the SuperLink of a local deployment listens on 127.0.0.1.
HOSTS = ('127.0.0.1', 'localhost')
_CURVE = ec.SECP384R1  # what Flower's guide uses (ssh-keygen -t ecdsa -b 384); any NIST curve would do


class CredentialError(ValueError):
    """A certificate chain or key that cannot be used (the message says which file and why, in one line)."""


@dataclass(frozen=True)
class Credentials:
    """The paths of a deployment's credentials (all in one folder).

    Attributes:
        ca_cert: the CA certificate: every SuperNode and ``flwr`` command line gets it, to verify the SuperLink.
        server_cert: the SuperLink's certificate, signed by the CA.
        server_key: the SuperLink's private key (0600); stays on the SuperLink's machine.
        node_keys: per SuperNode, ``(private key, public key)``: the private key (0600) goes to that SuperNode
            only, the public key to whoever registers it with ``flwr supernode register``.
    """
    ca_cert: str
    server_cert: str
    server_key: str
    node_keys: Tuple[Tuple[str, str], ...]


def _write(path: Path, data: bytes, private: bool) -> None:
    """Create ``path`` (never overwrite it) with ``data``; 0600 for a private key, 0644 otherwise."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(handle, 'wb') as output:
        output.write(data)
    os.chmod(path, 0o600 if private else 0o644)  # the mode os.open gave, whatever the umask


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'bearer_gan deployment'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, days: float, ca: bool, hosts: Sequence[str]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        names = [x509.IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else x509.DNSName(host) for host in hosts]
        builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(signer, hashes.SHA384())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _private_pem(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def make_credentials(folder: str, nodes: int, hosts: Sequence[str] = HOSTS, days: float = 365.0) -> Credentials:
    """Make a CA, a server certificate for ``hosts`` signed by it, and ``nodes`` SuperNode key pairs in ``folder``.

    The chain is checked (:func:`check_server_chain`) before this returns.

    Args:
        folder: created (0700) if missing; must not hold credentials already.
        nodes: SuperNode key pairs to make, ``supernode-0`` ... ``supernode-<nodes - 1>``.
        hosts: IP addresses and DNS names the SuperLink is reached at.
        days: how long the certificates are valid.

    Raises:
        CredentialError: when ``folder`` already holds one of the files, or the chain made does not check.
    """
    if nodes < 1:
        raise ValueError(f'nodes must be at least 1, got {nodes}')
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    taken = [name for name in _names(nodes) if (root / name).exists()]
    if taken:
        raise CredentialError(f'{folder} already holds credentials ({", ".join(taken)}); use an empty folder')
    ca_key, server_key = ec.generate_private_key(_CURVE()), ec.generate_private_key(_CURVE())
    ca = _certificate('bearer_gan deployment CA', ca_key, _name('bearer_gan deployment CA'), ca_key, days, True, ())
    server = _certificate(hosts[0], server_key, ca.subject, ca_key, days, False, hosts)
    _write(root / 'ca.pem', _pem(ca), private=False)  # the CA's key is dropped here: it signs nothing else
    _write(root / 'server.pem', _pem(server), private=False)
    _write(root / 'server.key', _private_pem(server_key, serialization.PrivateFormat.PKCS8), private=True)
    node_keys: List[Tuple[str, str]] = []
    for node in range(nodes):
        key = ec.generate_private_key(_CURVE())
        private, public = root / f'supernode-{node}.key', root / f'supernode-{node}.pub'
        _write(private, _private_pem(key, serialization.PrivateFormat.OpenSSH), private=True)
        _write(public, key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH) + b'\n', private=False)
        node_keys.append((str(private), str(public)))
    credentials = Credentials(str(root / 'ca.pem'), str(root / 'server.pem'), str(root / 'server.key'),
                              tuple(node_keys))
    check_server_chain(credentials.ca_cert, credentials.server_cert, credentials.server_key, hosts)
    return credentials


def _names(nodes: int) -> List[str]:
    """The files of a deployment's credentials folder."""
    return ['ca.pem', 'server.pem', 'server.key'] + [f'supernode-{i}.{ext}' for i in range(nodes) for ext in ('key', 'pub')]


def load_credentials(folder: str, nodes: int, hosts: Sequence[str] = HOSTS) -> Credentials:
    """The credentials in ``folder`` (laid out as :func:`make_credentials` writes them), checked: the server's chain
    (:func:`check_server_chain`) and, for each of ``nodes`` SuperNodes, that its public key is its private key's.

    Raises:
        CredentialError: naming the first file missing or failing a check.
    """
    root = Path(folder)
    missing = [name for name in _names(nodes) if not (root / name).is_file()]
    if missing:
        raise CredentialError(f'{folder} lacks {", ".join(missing[:4])}{" ..." if len(missing) > 4 else ""} '
                              f'(a deployment of {nodes} SuperNodes needs ca.pem, server.pem, server.key and '
                              'supernode-<i>.key/.pub)')
    credentials = Credentials(str(root / 'ca.pem'), str(root / 'server.pem'), str(root / 'server.key'),
                              tuple((str(root / f'supernode-{node}.key'), str(root / f'supernode-{node}.pub'))
                                    for node in range(nodes)))
    check_server_chain(credentials.ca_cert, credentials.server_cert, credentials.server_key, hosts)
    for private, public in credentials.node_keys:
        key = _load(private, lambda data: serialization.load_ssh_private_key(data, None), 'OpenSSH private key')
        if key.public_key() != _load(public, serialization.load_ssh_public_key, 'OpenSSH public key'):
            raise CredentialError(f'{public} is not the public key of {private}')
    return credentials


def _load(path: str, loader, what: str):
    try:
        return loader(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as error:
        raise CredentialError(f'{path}: not a readable {what} ({error})') from None


def check_server_chain(ca_cert: str, server_cert: str, server_key: str, hosts: Sequence[str] = HOSTS) -> None:
    """Check that ``server_cert`` was signed by ``ca_cert``, is valid now and for ``hosts``, and matches ``server_key``.

    Raises:
        CredentialError: naming the first check that fails.
    """
    ca = _load(ca_cert, x509.load_pem_x509_certificate, 'PEM certificate')
    server = _load(server_cert, x509.load_pem_x509_certificate, 'PEM certificate')
    key = _load(server_key, lambda data: serialization.load_pem_private_key(data, None), 'unencrypted PEM private key')
    try:
        server.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise CredentialError(f'{server_cert} was not signed by the CA {ca_cert}') from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != server.public_key().public_bytes(*spki):
        raise CredentialError(f'{server_key} is not the private key of {server_cert}')
    now = datetime.datetime.now(datetime.timezone.utc)
    for certificate, path in ((ca, ca_cert), (server, server_cert)):
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise CredentialError(f'{path} is not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d} to '
                                  f'{certificate.not_valid_after_utc:%Y-%m-%d})')
    try:
        names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    valid = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
    missing = [host for host in hosts if host not in valid]
    if missing:
        raise CredentialError(f'{server_cert} is not valid for {", ".join(missing)} (only {", ".join(sorted(valid))})')


# docs: flags
def superlink_args(credentials: Credentials) -> List[str]:
    """``flower-superlink``'s flags for TLS on every API it serves (Fleet, Control, runtime) and SuperNode
    authentication: only SuperNodes whose public key ``flwr supernode register`` registered may join."""
    return ['--ssl-ca-certfile', credentials.ca_cert, '--ssl-certfile', credentials.server_cert,
            '--ssl-keyfile', credentials.server_key, '--enable-supernode-auth']


def supernode_args(credentials: Credentials, node: int) -> List[str]:
    """``flower-supernode``'s flags for SuperNode ``node``: verify the SuperLink with the CA, sign with its own key."""
    return ['--root-certificates', credentials.ca_cert, '--auth-supernode-private-key', credentials.node_keys[node][0]]
# docs: end flags
