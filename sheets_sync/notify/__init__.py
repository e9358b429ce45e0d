"""Notifications (SPEC §7): what a run tells the operator (``messages``, pure), through which
Apprise URLs (``settings``), and how it is sent once per item (``send``)."""
