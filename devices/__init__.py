"""The grid, its people and devices, and device protocol v1.

`model` (value types), `payloads` / `topics` / `reading` (protocol v1 and the decoded message), `registry` (the
in-memory hierarchy with its indexes), `diff` (what changed between two registries), `fields` / `kinds` (every
registry field declared once, with its text and store forms), `csvio` (spreadsheet import/export), `store` (the
registry in the relational store), `sample` (the sample street), `examples` /
`schemas` (published examples and JSON Schemas), `errors` (`DevicesError` and friends). Imports nothing at
package level, so importing one module stays cheap.
"""
