"""Data out and in: the clinic's records as FHIR R4, CSV or JSON lines (export), and
patients enrolled from a spreadsheet (import).

Imports only storage and the pure parts of flows; the `lowband` CLI is the glue
(lowband/cli/export.py, lowband/cli/patient_import.py).
"""
