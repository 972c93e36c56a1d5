"""The IapProtectedService API (group iap-operator.dev): pydantic models of the CRD's spec and status."""

from iap_operator.api.v1alpha1 import (
    Access,
    BackendServiceRef,
    BackendServiceStatus,
    CloudRunRef,
    Condition,
    ConditionStatus,
    DeletionPolicy,
    GrantedCondition,
    GrantsStatus,
    IamCondition,
    IapProtectedServiceSpec,
    IapProtectedServiceStatus,
    Invoker,
    LoadBalancerSpec,
    LoadBalancingScheme,
    Mode,
    OAuthClient,
    ResourceStatus,
    SecretRef,
    SharedRef,
    parse_spec,
)

GROUP = "iap-operator.dev"
VERSION = "v1alpha1"
KIND = "IapProtectedService"
PLURAL = "iapprotectedservices"

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Access",
    "BackendServiceRef",
    "BackendServiceStatus",
    "CloudRunRef",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "GrantedCondition",
    "GrantsStatus",
    "IamCondition",
    "IapProtectedServiceSpec",
    "IapProtectedServiceStatus",
    "Invoker",
    "LoadBalancerSpec",
    "LoadBalancingScheme",
    "Mode",
    "OAuthClient",
    "ResourceStatus",
    "SecretRef",
    "SharedRef",
    "parse_spec",
]
