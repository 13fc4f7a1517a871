"""An amount as a person reads it: its currency's decimals (ISO 4217 minor units), thousands separated."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies whose minor unit is not 2 (the rest, INR, USD, EUR... have 2).
MINOR_UNITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
         "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}  # fmt: skip


def money(amount: Decimal | int | float | str | None, currency: str | None) -> str:
    """`4424.3`, `INR` -> `4,424.30 INR`; `1500`, `JPY` -> `1,500 JPY`; an unknown currency gets 2 decimals."""
    if amount is None:
        return ""
    code = (currency or "").strip().upper()
    places = MINOR_UNITS.get(code, 2)
    value = Decimal(str(amount)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{value:,.{places}f} {code}".strip()
