"""Provisioning: server initialisation, keys and rotation, node enrolment, Raspberry Pi install."""
