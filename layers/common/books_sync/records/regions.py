"""The time zone of a state, province or region, in countries that span several zones.

Zoho's billing address has the state as free text ("California", "CA", "Calif", "São Paulo", "SP").
A state that itself spans zones gets the zone most of its people live in (Texas: Chicago, not El
Paso's Denver; Florida: New York, not the panhandle's Chicago). Pure data and one lookup.
"""

from __future__ import annotations

import unicodedata

# Each zone with the names and abbreviations Zoho users type for its states (compared without accents,
# case, spaces or punctuation).
_US = {
    "America/New_York": "CT,Connecticut,DE,Delaware,DC,District of Columbia,FL,Florida,GA,Georgia,IN,Indiana,ME,Maine,"
    "MD,Maryland,MA,Massachusetts,MI,Michigan,NH,New Hampshire,NJ,New Jersey,NY,New York,NC,North Carolina,OH,Ohio,"
    "PA,Pennsylvania,RI,Rhode Island,SC,South Carolina,VT,Vermont,VA,Virginia,WV,West Virginia,KY,Kentucky",
    "America/Chicago": "AL,Alabama,AR,Arkansas,IL,Illinois,IA,Iowa,KS,Kansas,LA,Louisiana,MN,Minnesota,MS,Mississippi,"
    "MO,Missouri,NE,Nebraska,ND,North Dakota,OK,Oklahoma,SD,South Dakota,TN,Tennessee,TX,Texas,WI,Wisconsin",
    "America/Denver": "CO,Colorado,ID,Idaho,MT,Montana,NM,New Mexico,UT,Utah,WY,Wyoming",
    "America/Phoenix": "AZ,Arizona",
    "America/Los_Angeles": "CA,California,Calif,NV,Nevada,OR,Oregon,WA,Washington",
    "America/Anchorage": "AK,Alaska",
    "Pacific/Honolulu": "HI,Hawaii",
    "America/Puerto_Rico": "PR,Puerto Rico",
}
_CA = {
    "America/Vancouver": "BC,British Columbia",
    "America/Edmonton": "AB,Alberta",
    "America/Regina": "SK,Saskatchewan",
    "America/Winnipeg": "MB,Manitoba",
    "America/Toronto": "ON,Ontario,QC,Quebec",
    "America/Moncton": "NB,New Brunswick",
    "America/Halifax": "NS,Nova Scotia,PE,PEI,Prince Edward Island",
    "America/St_Johns": "NL,Newfoundland and Labrador,Newfoundland",
    "America/Whitehorse": "YT,Yukon",
    "America/Yellowknife": "NT,Northwest Territories",
    "America/Iqaluit": "NU,Nunavut",
}
_AU = {
    "Australia/Sydney": "NSW,New South Wales,ACT,Australian Capital Territory",
    "Australia/Melbourne": "VIC,Victoria",
    "Australia/Brisbane": "QLD,Queensland",
    "Australia/Adelaide": "SA,South Australia",
    "Australia/Perth": "WA,Western Australia",
    "Australia/Hobart": "TAS,Tasmania",
    "Australia/Darwin": "NT,Northern Territory",
}
_MX = {
    "America/Tijuana": "BC,Baja California",
    "America/Mazatlan": "BCS,Baja California Sur,SIN,Sinaloa,NAY,Nayarit",
    "America/Hermosillo": "SON,Sonora",
    "America/Chihuahua": "CHH,Chihuahua",
    "America/Cancun": "ROO,Quintana Roo",
}
_BR = {
    "America/Rio_Branco": "AC,Acre",
    "America/Manaus": "AM,Amazonas",
    "America/Porto_Velho": "RO,Rondônia",
    "America/Boa_Vista": "RR,Roraima",
    "America/Cuiaba": "MT,Mato Grosso",
    "America/Campo_Grande": "MS,Mato Grosso do Sul",
    "America/Belem": "PA,Pará,AP,Amapá",
    "America/Araguaina": "TO,Tocantins",
    "America/Fortaleza": "MA,Maranhão,PI,Piauí,CE,Ceará,RN,Rio Grande do Norte,PB,Paraíba",
    "America/Recife": "PE,Pernambuco",
    "America/Maceio": "AL,Alagoas,SE,Sergipe",
    "America/Bahia": "BA,Bahia",
}
# A state not in the table: the zone of the country's other states (a named state only).
_REST = {"MX": "America/Mexico_City", "BR": "America/Sao_Paulo"}


def _key(text: str) -> str:
    """Lower case, no accents, letters and digits only: "São Paulo" and "sao-paulo" meet."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(char for char in plain.lower() if char.isalnum())


_INDEXES = {
    country: {_key(alias): zone for zone, aliases in table.items() for alias in aliases.split(",")}
    for country, table in {"US": _US, "CA": _CA, "AU": _AU, "MX": _MX, "BR": _BR}.items()
}


def zone_of_region(country_code: str | None, region: str | None) -> str | None:
    """The zone of a state of a multi-zone country, or None when the country or the state is not known."""
    index = _INDEXES.get(country_code or "")
    if index is None or not region or not region.strip():
        return None
    return index.get(_key(region)) or _REST.get(country_code or "")
