"""Customers, orders, behaviour events, reviews and tickets: the shop's facts and their ingestion."""
