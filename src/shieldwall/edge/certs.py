"""Certificates: per-zone server contexts chosen by SNI, and self-signed ones for demos.

``CertStore.from_config`` loads every distinct ``(cert_file, key_file)`` pair of the config
once into its own ``ssl.SSLContext`` and maps host names to them with the rules host routing
uses (``edge/runtime.py``): an exact host first, then the longest wildcard suffix
(``*.example.com`` covers ``a.example.com`` and ``a.b.example.com``, not ``example.com``).
A zone without a certificate, a name no zone claims, and a missing SNI all get the default
certificate; without one, ``context_for`` returns None and the handshake must fail.

Server context policy (Mozilla "intermediate"): TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE
key exchange with AEAD ciphers (TLS 1.3 suites are all AEAD); no TLS compression (CRIME); no
renegotiation (a client-initiated renegotiation is a cheap CPU-exhaustion attack); ALPN
``http/1.1`` only (HTTP/2 is not served yet, so it must not be negotiated).

Each context's ``sni_callback`` switches ``ssl_object.context`` to the right one, so any of
the store's contexts can start a handshake (``server_context`` is the canonical one).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from shieldwall.config.model import CertificateConfig, Config

__all__ = [
    "ALPN_PROTOCOLS",
    "TLS12_CIPHERS",
    "CertStore",
    "generate_self_signed",
    "make_server_context",
]

ALPN_PROTOCOLS = ("http/1.1",)
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1"


def make_server_context(cert: CertificateConfig, *, path: str = "certificate") -> ssl.SSLContext:
    """A server context for one certificate; ``ConfigError`` (at ``path``) if unloadable."""
    from shieldwall.errors import ConfigError

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_policy(ctx)
    try:
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(path, f"cannot load {cert.cert_file} / {cert.key_file}: {exc}") from exc
    return ctx


def _apply_policy(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(list(ALPN_PROTOCOLS))


class CertStore:
    """SNI -> ``SSLContext`` for one config version. Immutable after construction."""

    __slots__ = ("_depths", "_exact", "_wild", "contexts", "default", "server_context")

    def __init__(
        self,
        exact: dict[str, ssl.SSLContext],
        wild: dict[str, ssl.SSLContext],
        default: ssl.SSLContext | None,
        contexts: tuple[ssl.SSLContext, ...],
    ) -> None:
        self._exact = exact
        self._wild = wild  # key: suffix with its leading dot, ".example.com"
        self._depths = tuple(sorted({k.count(".") for k in wild}, reverse=True))
        self.default = default
        self.contexts = contexts
        if default is not None:
            self.server_context = default
        else:
            # No certificate: the callback must refuse every name; used only to fail cleanly.
            self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            _apply_policy(self.server_context)
        for ctx in (*contexts, self.server_context):
            ctx.sni_callback = self._on_sni

    @classmethod
    def from_config(cls, config: Config) -> CertStore:
        loaded: dict[tuple[str, str], ssl.SSLContext] = {}

        def load(cert: CertificateConfig, path: str) -> ssl.SSLContext:
            key = (cert.cert_file, cert.key_file)
            if key not in loaded:
                loaded[key] = make_server_context(cert, path=path)
            return loaded[key]

        default = None
        if config.default_certificate is not None:
            default = load(config.default_certificate, "default_certificate")
        exact: dict[str, ssl.SSLContext] = {}
        wild: dict[str, ssl.SSLContext] = {}
        for i, zone in enumerate(config.zones):
            if zone.certificate is None:
                continue
            ctx = load(zone.certificate, f"zones[{i}].certificate")
            for host in zone.hosts:
                h = host.lower().rstrip(".")
                if h.startswith("*."):
                    wild[h[1:]] = ctx
                else:
                    exact[h] = ctx
        return cls(exact, wild, default, tuple(loaded.values()))

    def context_for(self, sni: str | None) -> ssl.SSLContext | None:
        """The context for ``sni`` (lower-case, no trailing dot), else the default, else None."""
        if sni is None:
            return self.default
        ctx = self._exact.get(sni)
        if ctx is not None:
            return ctx
        if self._wild:
            labels = sni.split(".")
            for depth in self._depths:
                if len(labels) > depth:
                    ctx = self._wild.get("." + ".".join(labels[-depth:]))
                    if ctx is not None:
                        return ctx
        return self.default

    def _on_sni(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext
    ) -> int | None:
        target = self.context_for(name.lower().rstrip(".") if name else None)
        if target is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if target is not ctx:
            sslobj.context = target
        return None


def generate_self_signed(
    hostnames: Sequence[str],
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    days: int = 365,
) -> None:
    """Write a self-signed ECDSA P-256 certificate for ``hostnames`` (DNS names or IPs).

    For ``shieldwall demo`` and tests only: browsers will warn, as they should. The key file is
    created with mode 0600.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if not hostnames:
        raise ValueError("at least one host name is required")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
