"""Subnet leases at Lago's path ``lago.subnet_lease``: which
``192.168.<N>.0/24`` each prefix's networks use, shared by every lago (and
Python Lago) process on the host. The store, its lock and its lease files
are lago-core's (``lago._native.SubnetStore``), in Lago's on-disk format::

    <lease dir>/subnet-lease.lock
    <lease dir>/<N>.lease      JSON ["<prefix>/uuid", "<uuid>"]

This module keeps Lago's classes over it: :class:`SubnetStore`,
:class:`Lease` and the exceptions.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any, Iterable, Optional, Union

from lago import _native
from lago.utils import LagoException

LOGGER = logging.getLogger(__name__)

#: Name of the store's lock file inside the lease directory.
LOCK_NAME = "subnet-lease.lock"

_CIDR = 24
_TEMPLATE = "192.168.{}.0/24"
#: Subnet given to a SubnetStore method: text or an ipaddress network.
SubnetLike = Union[str, ipaddress.IPv4Network]

class LagoSubnetLeaseException(LagoException):
    """A subnet lease could not be taken or released."""

    def __init__(self, msg: str, prv_msg: Any = None) -> None:
        if prv_msg is not None:
            msg = f"{msg}\nOriginal Exception: {prv_msg}"
        super().__init__(msg)


class LagoSubnetLeaseLockException(LagoSubnetLeaseException):
    """The lease store's lock could not be taken."""

    def __init__(self, store_path: str) -> None:
        super().__init__(
            f"Failed to take the lock of the subnet lease store {store_path}"
        )


class LagoSubnetLeaseStoreFullException(LagoSubnetLeaseException):
    """Every subnet of the range is leased."""

    def __init__(self, store_range: Any) -> None:
        super().__init__(f"Can't acquire subnet from range {store_range}: the store is full")


class LagoSubnetLeaseTakenException(LagoSubnetLeaseException):
    """The subnet asked for is leased by another prefix."""

    def __init__(self, required_subnet: str, lease_taken_by: str) -> None:
        super().__init__(
            f"Can't acquire subnet {required_subnet}: it is taken by {lease_taken_by}"
        )


class LagoSubnetLeaseOutOfRangeException(LagoSubnetLeaseException):
    """The subnet asked for is outside the lease range."""

    def __init__(self, required_subnet: str, store_range: Any) -> None:
        super().__init__(
            f"Subnet {required_subnet} is not valid: it is out of the range {store_range}"
        )


class LagoSubnetLeaseMalformedAddrException(LagoSubnetLeaseException):
    """The address asked for is not an IPv4 address."""

    def __init__(self, required_subnet: str) -> None:
        super().__init__(f"Address {required_subnet} is not a valid IPv4 address")


class LagoSubnetLeaseBadPermissionsException(LagoSubnetLeaseException):
    """The lease store cannot be written."""

    def __init__(self, store_path: str, prv_msg: Any = None) -> None:
        super().__init__(f"Failed to access the lease store {store_path}", prv_msg)


def _kind(exc: BaseException) -> str:
    return str(getattr(exc, "kind", ""))


def _lease_file_octet(name: str) -> Optional[int]:
    stem, dot, ext = name.partition(".")
    if dot and ext == "lease" and stem.isdigit():
        return int(stem)
    return None


class Lease:
    """One lease file of a store: the subnet it stands for and, read through
    lago-core, its owner and whether that owner still exists."""

    def __init__(self, store_path: str, subnet: SubnetLike) -> None:
        network = ipaddress.IPv4Network(str(subnet), strict=False)
        self._third_octet = int(str(network.network_address).split(".")[2])
        self._subnet = str(network)
        self._native = _native.SubnetStore(store_path, 0, 255)
        self._path = str(self._native.lease_path(self._third_octet))

    def _row(self) -> Optional[tuple[Any, ...]]:
        for row in self._native.list():
            if row[0] == self._third_octet:
                return tuple(row)
        return None

    def to_ip_network(self) -> ipaddress.IPv4Network:
        """The leased subnet."""
        return ipaddress.IPv4Network(self._subnet)

    @property
    def subnet(self) -> str:
        """The subnet in CIDR form, e.g. ``192.168.200.0/24``."""
        return self._subnet

    @property
    def path(self) -> str:
        """The lease file."""
        return self._path

    @property
    def exist(self) -> bool:
        """Whether the lease file exists."""
        return os.path.isfile(self._path)

    @property
    def metadata(self) -> tuple[Optional[str], Optional[str]]:
        """``(uuid path, uuid)`` recorded in the lease file (None, None when
        there is none or it cannot be read)."""
        row = self._row()
        if row is None or row[2] is None:
            return None, None
        return str(row[2]), row[3]

    @property
    def uuid_path(self) -> Optional[str]:
        """The owner prefix's uuid file."""
        return self.metadata[0]

    @property
    def uuid(self) -> Optional[str]:
        """The owner prefix's uuid when the lease was taken."""
        return self.metadata[1]

    @property
    def has_env(self) -> bool:
        """Whether the owner prefix still exists with the recorded uuid."""
        row = self._row()
        return row is not None and row[4] == "valid"

    @property
    def valid(self) -> bool:
        """Whether the lease file exists and its owner still exists."""
        return self.exist and self.has_env

    def __str__(self) -> str:
        return self._subnet

    def __repr__(self) -> str:
        return f"Lease({self._subnet!r}, path={self._path!r})"


class SubnetStore:
    """The lease store in ``path`` (default: config ``lease_dir``) over
    ``192.168.<min_third_octet..max_third_octet>.0/24``."""

    def __init__(
        self,
        path: Optional[str] = None,
        min_third_octet: int = 200,
        max_third_octet: int = 255,
    ) -> None:
        if path is None:
            from lago.config import config

            path = str(config.get("lease_dir") or "/var/lib/lago/subnets")
        self._path = path
        self._cidr = _CIDR
        self._subnet_template = _TEMPLATE
        self._min_third_octet = min_third_octet
        self._max_third_octet = max_third_octet
        self._min_subnet = ipaddress.IPv4Network(_TEMPLATE.format(min_third_octet))
        self._max_subnet = ipaddress.IPv4Network(_TEMPLATE.format(max_third_octet))
        self._native = _native.SubnetStore(path, min_third_octet, max_third_octet)
        self._validate_lease_dir()

    @property
    def path(self) -> str:
        """The lease directory."""
        return self._path

    def _validate_lease_dir(self) -> None:
        try:
            if not os.path.isdir(self._path):
                os.makedirs(self._path)
        except OSError as e:
            raise LagoSubnetLeaseBadPermissionsException(self._path, e.strerror) from e

    def get_allowed_range(self) -> str:
        """The range as text: ``<lowest subnet> - <highest subnet>``."""
        return f"{self._min_subnet} - {self._max_subnet}"

    def _network(self, subnet: SubnetLike) -> ipaddress.IPv4Network:
        text = str(subnet)
        if "/" not in text:
            text = f"{text}/{self._cidr}"
        try:
            network = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise LagoSubnetLeaseMalformedAddrException(text) from None
        if not self.is_leasable_subnet(network):
            raise LagoSubnetLeaseOutOfRangeException(text, self.get_allowed_range())
        return network

    def is_leasable_subnet(self, subnet: SubnetLike) -> bool:
        """Whether ``subnet`` is one of the store's /24s (a malformed
        address raises ``ValueError``)."""
        network = ipaddress.IPv4Network(str(subnet), strict=False)
        return (
            network.prefixlen == self._cidr
            and self._min_subnet.network_address
            <= network.network_address
            <= self._max_subnet.network_address
        )

    def create_lease_object_from_subnet(self, subnet: SubnetLike) -> Lease:
        """The :class:`Lease` of ``subnet`` (raises if malformed or out of range)."""
        return Lease(self._path, self._network(subnet))

    def create_lease_object_from_idx(self, idx: Union[int, str]) -> Lease:
        """The :class:`Lease` of ``192.168.<idx>.0/24``."""
        return self.create_lease_object_from_subnet(_TEMPLATE.format(idx))

    def _owner_of(self, third_octet: int) -> str:
        for row in self._native.list():
            if row[0] == third_octet and row[2] is not None:
                return str(row[2])
        return "another prefix"

    def acquire(self, uuid_path: str, subnet: Optional[SubnetLike] = None) -> ipaddress.IPv4Network:
        """Leases ``subnet`` (or the first free subnet) to the prefix whose
        uuid file is ``uuid_path``; returns the leased network."""
        requested = self._network(subnet) if subnet else None
        uuid_path = os.path.abspath(uuid_path)
        with open(uuid_path) as f:
            uuid = f.read()
        requested_addr = str(requested.network_address) if requested else None
        try:
            octet = self._native.acquire(uuid_path, uuid, requested_addr)
        except LagoException as e:
            kind = _kind(e)
            if kind == "already_exists" and requested is not None:
                third = int(str(requested.network_address).split(".")[2])
                raise LagoSubnetLeaseTakenException(str(requested), self._owner_of(third)) from e
            if kind == "already_exists":
                raise LagoSubnetLeaseStoreFullException(self.get_allowed_range()) from e
            if kind == "timeout":
                raise LagoSubnetLeaseLockException(self._path) from e
            raise LagoSubnetLeaseBadPermissionsException(self._path, str(e)) from e
        LOGGER.debug("Acquired subnet 192.168.%s.0/24 for %s", octet, uuid_path)
        return ipaddress.IPv4Network(_TEMPLATE.format(octet))

    def release(self, subnets: Union[SubnetLike, Iterable[SubnetLike]]) -> None:
        """Removes the leases of ``subnets`` (one or several), whoever holds them."""
        if isinstance(subnets, (str, ipaddress.IPv4Network)):
            subnets = [subnets]
        for subnet in subnets:
            network = self._network(subnet)
            try:
                self._native.release(int(str(network.network_address).split(".")[2]))
            except LagoException as e:
                if _kind(e) == "timeout":
                    raise LagoSubnetLeaseLockException(self._path) from e
                raise LagoSubnetLeaseBadPermissionsException(self._path, str(e)) from e

    def list_leases(self, uuid: Optional[str] = None) -> list[Lease]:
        """The leases in the store (those of prefix ``uuid`` only, if given)."""
        try:
            names = os.listdir(self._path)
        except OSError as e:
            raise LagoSubnetLeaseBadPermissionsException(self._path, e.strerror) from e
        leases = []
        for name in sorted(names):
            octet = _lease_file_octet(name)
            if octet is None or not self._min_third_octet <= octet <= self._max_third_octet:
                continue
            leases.append(Lease(self._path, _TEMPLATE.format(octet)))
        if uuid:
            leases = [lease for lease in leases if lease.uuid == uuid]
        return leases
