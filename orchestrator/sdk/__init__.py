"""Handrail's client SDK for systems that submit decisions. Standard library only, no Django."""
