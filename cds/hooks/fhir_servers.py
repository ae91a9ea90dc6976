"""Which FHIR servers a CDS client may send this service to, and at which addresses.

A call's `fhirServer` is read only when it is, spelt as cds.net.normal_base_url spells it, one
of the FHIR base URLs configured for the client's issuer (CDS_TRUSTED_ISSUERS). Its host may
resolve only to public addresses, or to an address the configuration names: the URL's own
literal address, loopback for `localhost`, or a network in the issuer's `fhir_networks`. So a
caller cannot point the service, or the access token it was given, at anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cds.hooks.outbound import AddressPolicy, Endpoint
from cds.net import IPAddress, IPNetwork, is_public_address, literal_address, normal_base_url, plain_address
from cds.settings import TrustedIssuer


@dataclass(frozen=True)
class FhirTarget:
    endpoint: Endpoint
    allowed: AddressPolicy


def fhir_target(fhir_server: str, issuers: Iterable[TrustedIssuer]) -> FhirTarget | None:
    """The configured server `fhir_server` names, with its address policy; None when no issuer
    of `issuers` lists it."""
    try:
        spelt = normal_base_url(fhir_server)
    except ValueError:
        return None
    for issuer in issuers:
        if spelt in issuer.fhir_servers:
            endpoint = Endpoint.parse(spelt)
            return FhirTarget(endpoint, address_policy(endpoint.host, issuer.fhir_networks))
    return None


def address_policy(host: str, networks: tuple[IPNetwork, ...]) -> AddressPolicy:
    named = literal_address(host)
    named = plain_address(named) if named is not None else None

    def allowed(address: IPAddress) -> bool:
        address = plain_address(address)
        if is_public_address(address) or address == named:
            return True
        if host == "localhost" and address.is_loopback:
            return True
        return any(address in network for network in networks)

    return allowed
