"""Connecting to a Dask distributed scheduler (``--dask-scheduler``, ``--dask-security``).

Trust. The scheduler and its workers run gliopet's code on the sessions and send each result
back pickled; the client unpickles it, and unpickling data from a machine runs whatever that
machine chose. Connect only to a scheduler you (or your institution) run: never to a shared or
public one.

TLS. A ``tls://host:port`` address encrypts and authenticates the connection with Dask's own
TLS settings (`distributed.security.Security`): the CA certificate that signed the scheduler's
certificate, and the client's certificate and key. They come from ``--dask-security FILE``, a
Dask configuration YAML (only these keys are read; relative paths are relative to the file)::

    distributed:
      comm:
        tls:
          ca-file: ca.pem
          client:
            cert: client.pem
            key: client-key.pem     # may be left out when cert.pem holds the key too

or, without the option, from the Dask configuration itself (``~/.config/dask/*.yaml`` or
``DASK_DISTRIBUTED__COMM__TLS__CA_FILE`` and the like). A ``tcp://`` address is not encrypted:
use it only inside a network you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliopet.errors import InputError

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

#: Keys of ``--dask-security FILE`` (Dask configuration names) -> `Security` arguments.
TLS_KEYS = {("distributed", "comm", "tls", "ca-file"): "tls_ca_file",
            ("distributed", "comm", "tls", "client", "cert"): "tls_client_cert",
            ("distributed", "comm", "tls", "client", "key"): "tls_client_key"}
SECURITY_FIX = ("give --dask-security FILE, a Dask configuration YAML with "
                "distributed.comm.tls.ca-file, client.cert and client.key (or set them in the "
                "Dask configuration)")


def _read_security_file(path: Path) -> dict[str, str]:
    """`Security` arguments from a ``--dask-security`` file (paths made absolute)."""
    import yaml

    if not path.is_file():
        raise InputError("Dask security file not found", path=path, fix=SECURITY_FIX)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable YAML file ({str(exc).splitlines()[0]})", path=path,
                         fix=SECURITY_FIX) from None
    found: dict[str, str] = {}
    for keys, argument in TLS_KEYS.items():
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            found[argument] = str((path.parent / str(value)).absolute())
    if not found:
        raise InputError("no distributed.comm.tls setting in the Dask security file", path=path,
                         fix=SECURITY_FIX)
    return found


def scheduler_security(address: str, security_file: str | Path | None = None) -> Security | None:
    """The TLS settings to connect to `address` (module docstring); None for a ``tcp://``
    address without `security_file`.

    Raises
    ------
    InputError
        A ``tls://`` address without a CA certificate or client certificate, a certificate file
        that does not exist, `security_file` missing or unreadable, or `security_file` given
        with an address that is not ``tls://``.
    """
    from distributed.security import Security

    tls = address.startswith("tls://")
    if security_file is not None and not tls:
        raise InputError("--dask-security needs a tls:// scheduler address", path=address,
                         fix="give the scheduler's address as tls://host:port")
    if not tls:
        return None
    arguments = {} if security_file is None else _read_security_file(Path(security_file))
    security = Security(require_encryption=True, **arguments)
    if not security.tls_ca_file or not security.tls_client_cert:
        raise InputError("a tls:// scheduler needs the CA certificate and a client certificate, "
                         "and none are configured", path=address, fix=SECURITY_FIX)
    for name in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
        value = getattr(security, name)
        if value and not Path(value).is_file():
            raise InputError("TLS certificate or key file not found", path=value,
                             fix="check the paths of the Dask security file or configuration "
                                 "(relative paths are relative to the file)")
    return security


def connect(address: str, security_file: str | Path | None = None) -> Client:
    """A Dask client connected to the trusted scheduler at `address` (module docstring).

    Raises
    ------
    InputError
        Dask's distributed package is missing, the TLS settings are unusable
        (`scheduler_security`) or the scheduler cannot be reached.
    """
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask-scheduler needs the Dask 'distributed' package", path=address,
                         fix="install it (pip install 'dask[distributed]') or use --jobs") from None
    security = scheduler_security(address, security_file)
    try:
        return Client(address, timeout="20s", security=security)
    except (OSError, ValueError) as exc:  # unreachable, refused, TLS handshake, unknown scheme
        fix = ("check that the scheduler runs and that its certificate is signed by your CA"
               if security else "give the scheduler address as tcp://host:port or tls://host:port")
        raise InputError(f"cannot connect to the Dask scheduler ({exc})", path=address,
                         fix=fix) from None
