"""The demo world's true response to interventions: how much each action raises a
customer's chance of ordering again within the window, depending on who they are.

`win_back_chance` is the chance that the action makes a customer order who, left alone,
would not have: a coupon works on price-sensitive customers unhappy with prices, an agent
call on those with a ticket still unresolved (the more so, the more service matters to
them), a gift helps a little, a plain email not at all. A customer who would have ordered
anyway still orders, so the true effect on one customer is (1 - ordered anyway) x chance,
and a coupon is also redeemed by some of those who would have ordered anyway (the cost of
a coupon without its effect).

These traits come from the truth file (`crm.demo.truth`), which the product never reads;
`interventions.simulation` uses this module to let the simulated customers respond to the
interventions the engine made.
"""

from __future__ import annotations

import numpy as np

GIFT_CHANCE = 0.04
CALL_WITHOUT_TICKET = 0.03


def win_back_chance(
    action: str,
    *,
    price_sensitivity: np.ndarray,
    dissatisfaction_price: np.ndarray,
    service_sensitivity: np.ndarray,
    unresolved_ticket: np.ndarray,
) -> np.ndarray:
    """Per customer, the chance (0..1) that `action` wins back one who would not have ordered."""
    n = len(price_sensitivity)
    if action == "coupon":
        unhappy_with_prices = dissatisfaction_price > 0
        return 0.05 + np.where(unhappy_with_prices, 0.45, 0.05) * price_sensitivity
    if action == "call":
        return np.where(unresolved_ticket, 0.15 + 0.35 * service_sensitivity, CALL_WITHOUT_TICKET)
    if action == "gift":
        return np.full(n, GIFT_CHANCE)
    if action == "email":
        return np.zeros(n)
    raise ValueError(f"Unknown action {action!r}.")


def redeems_anyway_chance(price_sensitivity: np.ndarray) -> np.ndarray:
    """The chance that a customer who would have ordered anyway uses the coupon."""
    return 0.3 + 0.5 * price_sensitivity
