"""The kubelet's serving certificate.

As upstream without ``--tls-cert-file``: a self-signed certificate (CN ``<host>@<unix time>``, one year) with
SANs for the node names, ``localhost`` and the node addresses, kept as ``<data-dir>/pki/kubelet.crt`` and
``kubelet.key`` and reused across restarts while it is valid and still names every host asked for.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import time
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
#: a certificate expiring sooner than this is replaced at start
RENEW_BEFORE = dt.timedelta(days=1)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _split(hosts: Iterable[str]) -> tuple[list[str], list[IPAddress]]:
    names: list[str] = []
    ips: list[IPAddress] = []
    for h in hosts:
        if not h:
            continue
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            if h not in names:
                names.append(h)
            continue
        if ip not in ips:
            ips.append(ip)
    return names, ips


def _reusable(cert_path: Path, key_path: Path, names: list[str], ips: list[IPAddress]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return False
    return set(names) <= set(san.get_values_for_type(x509.DNSName)) and \
        set(ips) <= set(san.get_values_for_type(x509.IPAddress))


def ensure_serving_cert(data_dir: Path, host: str, hosts: Iterable[str]) -> tuple[Path, Path]:
    """(kubelet.crt, kubelet.key) under ``data_dir/pki``: reused when valid, else generated."""
    pki = data_dir / "pki"
    cert_path, key_path = pki / "kubelet.crt", pki / "kubelet.key"
    names, ips = _split([host, *hosts, "localhost", "127.0.0.1"])
    if _reusable(cert_path, key_path, names, ips):
        return cert_path, key_path
    pki.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{host}@{int(time.time())}")])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ip) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    tmp_key = key_path.with_suffix(".tmp")
    tmp_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(tmp_key, 0o600)
    tmp_key.replace(key_path)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp_cert.replace(cert_path)
    return cert_path, key_path
