"""One adapter per compute kind, on a shared base (`base.ComputeKind`)."""
