"""Customers, orders, events, reviews and tickets: the shop's facts and their ingestion."""
