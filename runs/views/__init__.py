"""Server-rendered pages for runs: the live run page, the approvals inbox, history, compare."""
