"""Subnet lease errors at Lago's path ``lago.subnet_lease`` (leases
themselves are taken and released by lago-core)."""

from __future__ import annotations

from typing import Any

from lago.utils import LagoException


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
