"""The pure core: marketplace normalisers, order lifecycle, triggers, VAT and tax, polling
decisions. Imports only the standard library, `models` and pure libraries; never an I/O library
or a module of the shell (enforced by import-linter, see pyproject.toml)."""
