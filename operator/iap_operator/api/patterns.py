"""Value rules of the IapProtectedService CRD for the model (tests check them against the CRD)."""

from __future__ import annotations

# GCP project id: 6 to 30 characters, lowercase letters, digits and hyphens.
PROJECT_ID = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
# Cloud Run service name: starts with a letter, no trailing hyphen, at most 49 characters.
CLOUD_RUN_SERVICE = r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$"
CLOUD_RUN_SERVICE_MAX = 49
# GCP region: us-central1, europe-west4, northamerica-northeast1.
REGION = r"^[a-z]+-[a-z]+[0-9]+$"
REGION_MAX = 63
REGIONS_MAX = 10  # cloudRun.regions: one serverless NEG per region behind one backend service
# Compute Engine resource names (RFC 1035 label, at most 63 characters).
RFC1035_NAME = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
RFC1035_NAME_MAX = 63
# Lowercase DNS host name with at least two labels and a top-level label that starts with a letter.
DOMAIN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DOMAIN_MAX = 253
DOMAINS_MAX = 100
SSL_CERTIFICATES_MAX = 15
# Kubernetes object names (Secrets): DNS-1123 subdomain.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX = 253
# Kubernetes Secret data keys.
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 - a pattern, not a secret
SECRET_KEY_MAX = 253
# IAM principals IAP may grant: user:, group:, serviceAccount: (emails) and domain: (DNS name).
# allUsers / allAuthenticatedUsers do not match.
MEMBER = (
    r"^(?:(?:user|group|serviceAccount):[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63}"
    r"|domain:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)
MEMBER_MAX = 320
MEMBERS_MAX = 200  # with kopf's and kubectl's copies of the spec, within 256 KiB of annotations
CONDITION_TITLE_MAX = 100
CONDITION_MESSAGE_MAX = 32768  # status.conditions[].message (the CRD's bound, as metav1.Condition's)
CONDITION_DESCRIPTION_MAX = 256
CONDITION_EXPRESSION_MAX = 4096
# Go duration (time.ParseDuration, without sign): 10m, 1h30m, 90s, 1.5h.
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
GO_DURATION_MAX = 64
RESYNC_PERIOD_MIN_SECONDS = 60
# Shared balancers (IapLoadBalancer, loadBalancer.sharedRef): namespaces, path prefixes, admitted domains.
NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
NAMESPACE_MAX = 63
PATH_PREFIX = r"^/[-a-zA-Z0-9._~/]*$"
PATH_PREFIX_MAX = 200
PATH_PREFIXES_MAX = 10
DOMAIN_PATTERN = r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
MATCH_LABELS_MAX = 20
LABEL_VALUE_MAX = 63
# IAP settings (IAP v1 iapSettings): bounds of the operator's own choosing (Google states none), kept small
# so the largest object stays within the API server's annotation limit (tests/crd/test_crd_size.py).
PROTO_DURATION = r"^[0-9]{1,9}s$"  # a google.protobuf.Duration in whole seconds, as the API answers it
PROTO_DURATION_MAX = 10
OAUTH_CLIENT_ID = r"^[0-9]{1,30}(-[a-z0-9]{1,64})?\.apps\.googleusercontent\.com$"
OAUTH_CLIENT_ID_MAX = 128
PROGRAMMATIC_CLIENTS_MAX = 5
ALLOWED_DOMAINS_MAX = 3
LOGIN_HINT_MAX = 253
URI_MAX = 256
ATTRIBUTE_EXPRESSION_MAX = 256
HTTPS_URI = r"^https://[^\s<>&\"]+$"
