"""Bills: the ledger, its imports (claims and CSV statement files), payments through a processor's hosted
page, plans, statements and receipts, and the billing office's reconciliation.

Modules: `money` (cents), `ledger` (entries and the balance), `statement_file` (the CSV format),
`imports` (as the operator), `processors` (Stripe Checkout and the demo), `payments`, `pages` (what the
patient and guarantor see, through one visibility rule), `guest`, `plans`, `staff`, `reconcile`,
`documents` (statement and receipt PDFs), `cli`.
"""
