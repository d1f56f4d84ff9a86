"""Container names: validation of given names and Docker-style generated ones.

A generated name is ``<adjective>_<surname>`` (the surnames are of people who
shaped computing and science), as dockerd's generator makes them. The word
lists are Dockyard's own.
"""

from __future__ import annotations

import re
import secrets

from services.common.errors import InvalidArgument

ALLOWED_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
"""How dockerd's message describes a valid name."""
_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

ADJECTIVES = (
    "agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "cheerful",
    "clever", "cosmic", "crisp", "curious", "daring", "dazzling", "eager", "earnest",
    "elated", "elegant", "epic", "fearless", "fervent", "festive", "fluent", "focused",
    "friendly", "gallant", "gentle", "gifted", "gleaming", "glowing", "graceful", "happy",
    "hardy", "hopeful", "humble", "inspired", "jolly", "jovial", "keen", "kind", "lively",
    "loyal", "lucid", "lucky", "merry", "mellow", "mindful", "modest", "nimble", "noble",
    "patient", "peaceful", "placid", "plucky", "polite", "proud", "quick", "quiet",
    "radiant", "rapid", "ready", "serene", "sharp", "shiny", "silly", "sincere", "smart",
    "snappy", "solid", "spirited", "steady", "stoic", "sturdy", "sunny", "swift", "tender",
    "thirsty", "tidy", "trusty", "upbeat", "valiant", "vibrant", "vigilant", "vivid",
    "warm", "wise", "witty", "youthful", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "allen", "archimedes", "babbage", "backus", "bardeen", "bartik", "bell",
    "berners", "bohr", "boole", "borg", "brattain", "cerf", "chandrasekhar", "clarke",
    "conway", "cori", "curie", "darwin", "dijkstra", "easley", "einstein", "engelbart",
    "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin", "galileo",
    "gauss", "germain", "goldberg", "goodall", "hamilton", "hawking", "heisenberg",
    "hertz", "hodgkin", "hopper", "hypatia", "jackson", "johnson", "kalam", "kepler",
    "knuth", "kowalevski", "lamarr", "lamport", "leakey", "lovelace", "maxwell",
    "mccarthy", "meitner", "mendel", "minsky", "mirzakhani", "moore", "morse", "newton",
    "nobel", "noether", "pascal", "pasteur", "planck", "poincare", "ramanujan", "ritchie",
    "rubin", "sammet", "shannon", "sinoussi", "stallman", "tesla", "thompson", "torvalds",
    "turing", "vaughan", "volta", "wiles", "wilson", "wing", "wozniak", "wright", "yalow",
)


def check_name(name: str) -> str:
    """The canonical name (with leading ``/``) of a client-given one; 400 if invalid."""
    if not _VALID.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only {ALLOWED_CHARS} are allowed")
    return name if name.startswith("/") else "/" + name


def generated_name(attempt: int = 0) -> str:
    """A random ``/adjective_surname``; from the second retry on a digit is appended.

    Callers retry on collision; the digit makes a clash among a few thousand
    containers unlikely after a couple of tries, as dockerd does.
    """
    name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
    if attempt > 0:
        name += str(secrets.randbelow(10))
    return "/" + name
