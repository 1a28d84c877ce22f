"""Getting pi-coach onto a box with no network: the offline bundle, the SD-card image, updates over SSH.

Run from a checkout: ``python -m deploy.wheelhouse``, ``python -m deploy.bundle``, ``python -m deploy.flash``
(or the Makefile's ``wheelhouse``, ``bundle``, ``flash``, ``deploy`` and ``deploy-fleet`` targets).
"""
