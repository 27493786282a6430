"""What can be an advertiser id, checked before any cache lookup or query.

Ids in the logs are short printable strings (the course's and the generator's are 20 characters
of A-Z and 0-9), but the API does not assume that alphabet: any text is looked up, so an unknown
id is a clean 404. What it rejects, with a 422 naming the rule, is what no log line can hold and
PostgreSQL cannot even compare: control characters (NUL above all, which PostgreSQL refuses in
any text), lone surrogates (not encodable as UTF-8), and more than 128 characters.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

ADVERTISER_ID_MAX_LENGTH = 128
# C0 and C1 control characters (NUL, tab, newline, DEL, ...), then UTF-16 surrogates.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
FORBIDDEN_CHARACTERS = CONTROL_CHARACTERS + r"\ud800-\udfff"
ADVERTISER_ID_RULE = (
    f"must be 1 to {ADVERTISER_ID_MAX_LENGTH} characters, none of them a control character "
    "(U+0000-U+001F, U+007F-U+009F) or a lone surrogate"
)
_VALID = re.compile(f"[^{FORBIDDEN_CHARACTERS}]{{1,{ADVERTISER_ID_MAX_LENGTH}}}")
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARACTERS}]")


def advertiser_id(value: object) -> str:
    """The id itself when it can be an advertiser id; a PydanticCustomError naming the rule."""
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    if not isinstance(value, str):
        found = f"got a {type(value).__name__}"
    elif not value:
        found = "got an empty id"
    elif bad := _FORBIDDEN.search(value):
        found = f"found U+{ord(bad[0]):04X} at position {bad.start() + 1}"
    else:
        found = f"got {len(value)} characters"
    raise PydanticCustomError(
        "advertiser_id", "{rule}; {found}", {"rule": ADVERTISER_ID_RULE, "found": found}
    )


def optional_advertiser_id(value: object) -> str | None:
    """A form's lookup field: blank is no id, surrounding whitespace is dropped, the rest must
    pass advertiser_id()."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    return advertiser_id(value)


AdvertiserIdText = Annotated[str, BeforeValidator(advertiser_id)]
AdvertiserLookup = Annotated[str | None, BeforeValidator(optional_advertiser_id)]
AdvertiserId = Annotated[
    AdvertiserIdText,
    Path(
        min_length=1,
        max_length=ADVERTISER_ID_MAX_LENGTH,
        # Documents the rule for clients and schema-driven tests; advertiser_id() enforces it
        # (pydantic drops `pattern=` from the schema of a type with a before-validator).
        json_schema_extra={"pattern": f"^[^{CONTROL_CHARACTERS}]+$"},
        description=f"the advertiser's id, as in the logs: {ADVERTISER_ID_RULE[8:]}",
    ),
]
