"""Core of the PETL audio toolkit: dataset preparation (manifests) and, later, training utilities."""
