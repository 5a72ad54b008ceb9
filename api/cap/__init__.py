"""CAP 1.2 (OASIS Common Alerting Protocol) messages of geowarn's warnings, and their Atom feed.

``terms`` holds the vocabularies (event terms, level codes), ``text`` the
zh-CN/en wording, ``area`` the shapes, ``message`` one ``<alert>`` per
warning transition and ``feed`` the Atom feed; ``api.routes.cap`` serves them.
"""

from api.cap.feed import ATOM_MEDIA_TYPE
from api.cap.message import CAP_MEDIA_TYPE, CAP_NS, CapOptions

__all__ = ["ATOM_MEDIA_TYPE", "CAP_MEDIA_TYPE", "CAP_NS", "CapOptions"]
