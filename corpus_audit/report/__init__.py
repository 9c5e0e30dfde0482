"""What people read: the terminal summary, the HTML and Markdown reports, charts, and `--fail-on` gating.

Owns: `summary` (terminal), `render` (HTML and Markdown from `templates/`), `charts`
(matplotlib SVG) and `gating` (the rule grammar). Reads only the finished audit (a dict
shaped like `audit.json`); may import `io` (atomic writes) and the earlier stages' constants
(`collapse`'s risk wording), never the pipeline or the engines.
"""
