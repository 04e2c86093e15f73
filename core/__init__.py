"""Shared leaves below every other package: the clock, the relational store's engines, URL rules, YAML error
spots and the base error. Modules here import nothing of ours but each other."""
