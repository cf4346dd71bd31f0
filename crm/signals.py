"""Signals the CRM sends to the apps above it (see DESIGN.md: dependencies point one way).

Both are sent after the transaction that saved the records commits, with `send_robust`,
so a failing receiver (say, the broker is down) is logged and breaks no write. The CRM
never imports the apps that connect to them.

`customer_texts_saved(text_ids=[...])`: the CustomerText ids that are new or whose content
changed. The sentiment app connects to it to enqueue scoring.

`customers_activity_saved(customer_ids=[...])`: the customers whose orders or tickets
(a ticket's reopenings included) were created or changed, sorted and without repeats; sent
once per committed transaction, whichever paths wrote in it (services, API, admin, each
batch of a CSV import). The churn model connects to it to re-score those customers.
Deletions and the demo generator do not send it; the nightly batch scoring covers them.
"""

from django.dispatch import Signal

customer_texts_saved = Signal()
customers_activity_saved = Signal()
