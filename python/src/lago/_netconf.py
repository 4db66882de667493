"""Lago's checks of an init spec's networks (``Prefix._select_mgmt_networks``
and ``Prefix._validate_netconfig``), kept for plugins and tests that call
them on a spec dict. lago-core runs its own checks at ``init``; these only
look at the dict they are given and write nothing."""

from __future__ import annotations

from typing import Any

from lago.utils import LagoInitException

DEFAULT_DNS_DOMAIN = "lago.local"


def select_mgmt_networks(conf: dict[str, Any]) -> list[str]:
    """Names of the management nets of ``conf['nets']``, sorted. With none
    marked, the first name in sort order becomes one. Every management net
    without ``dns_domain_name`` gets ``lago.local``. Changes ``conf``."""
    nets = conf["nets"]
    mgmts = sorted(name for name, net in nets.items() if net.get("management") is True)
    if not mgmts:
        first = sorted(nets)[0]
        nets[first]["management"] = True
        mgmts.append(first)
    for name in mgmts:
        if nets[name].get("dns_domain_name") is None:
            nets[name]["dns_domain_name"] = DEFAULT_DNS_DOMAIN
    return mgmts


def nic_net(conf: dict[str, Any], vm: str, nic: dict[str, Any]) -> dict[str, Any]:
    """The net spec a VM's nic is on; LagoInitException naming the VM, the
    unknown net and the nets there are."""
    nets = conf.get("nets", {})
    name = nic.get("net")
    if name not in nets:
        raise LagoInitException(
            f"\nUnrecognized network in {vm}: {name},\navailable: {','.join(nets)}\n"
        )
    return nets[name]  # type: ignore[no-any-return]


def validate_netconfig(conf: dict[str, Any]) -> None:
    """LagoInitException unless: there is a net; with more than one net,
    DNS settings are only on nets that say whether they are management; and
    every VM has exactly one nic on a management net."""
    nets = conf.get("nets", {})
    if not nets:
        raise LagoInitException("No networks configured.")
    dns_not_mgmt = [
        name
        for name, net in nets.items()
        if net.get("management") is None and (net.get("main_dns") or net.get("dns_domain_name"))
    ]
    if dns_not_mgmt and len(nets) > 1:
        raise LagoInitException(
            f"Networks: {','.join(dns_not_mgmt)}, misconfigured, they are not marked as "
            "management, but have DNS attributes. DNS is supported only in management networks."
        )
    for vm, spec in conf.get("domains", {}).items():
        mgmts = [
            nic["net"]
            for nic in spec.get("nics", [])
            if nic_net(conf, vm, nic).get("management", False) is True
        ]
        if not mgmts:
            raise LagoInitException(
                f"VM {vm} has no management network, please connect it to one."
            )
        if len(mgmts) > 1:
            raise LagoInitException(
                f"VM {vm} has more than one management network: {','.join(mgmts)}. "
                "It should have exactly one."
            )
