"""Compute Engine v1 emulation, driven by google-cloud-compute over REST."""
