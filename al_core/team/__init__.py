"""Team mode: accounts, passwords and sign-in.

Owns: password hashing (:mod:`.passwords`, Argon2id through argon2-cffi), adding users and
changing their roles (:mod:`.accounts`), signing in with throttled failures and
server-side sessions (:mod:`.signin`), and single sign-on's mapping from an e-mail to a
project user (:mod:`.sso`). Who may do what is :mod:`al_core.permissions`; the tables are
:mod:`al_core.store.team`.

May import: ``store`` and the root modules.
Layering: docs/architecture.md, checked by tests/test_layering.py.
"""
