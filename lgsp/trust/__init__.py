"""Who may call the bus, and how much: the client store (clients, hashed
secrets, grants, quotas, signing keys), access tokens and grants
(:mod:`~lgsp.trust.access`), operators (:mod:`~lgsp.trust.operators`),
TLS and certificate-bound tokens (:mod:`~lgsp.trust.tls`) and per-client
quotas (:mod:`~lgsp.trust.quotas`).

The gateway asks; nothing here knows HTTP beyond the header values it is
given.
"""
