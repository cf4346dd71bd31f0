"""Signals the CRM sends to the apps above it (see DESIGN.md: dependencies point one way).

`customer_texts_saved` is sent after the transaction that saved the texts commits, with
`text_ids`: the CustomerText ids that are new or whose content changed. The sentiment app
connects to it to enqueue scoring; the CRM never imports the sentiment app.
"""

from django.dispatch import Signal

customer_texts_saved = Signal()
