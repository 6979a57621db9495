# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Mask the values of credential-like arguments in a command line before it leaves the host.

Process lists end up in controller output, CI logs and reports; monitoring agents that collect them scrub
arguments the same way. Only the returned copy is masked: matching (cmdline_patterns, selector rules) runs on
the real text. Pure functions, standard library only, Python >= 3.8.

What is masked (argument names match case-insensitively when they contain one of SENSITIVE_WORDS):
- `--password=VALUE`, `-password=VALUE` and `password=VALUE` (also env-like `PGPASSWORD=VALUE`), as a whole
  argument (the value is all the rest, spaces included) or inside one (`user=a,password=b`, a URL's
  `?token=abc&x=1`, up to the next space, ',', ';', '&' or quote);
- `--password VALUE`: the next argument, unless it starts with '-';
- `scheme://user:PASSWORD@host`: the password of a URL;
- `-pVALUE` once a mysql/mariadb client (mysql, mysqldump, mysqladmin, mariadb, mariadb-dump, ...) has been
  named; `-p` alone (the client prompts) and `--password` alone stay as they are.
An argument that holds a whole shell command (`sh -c "mysql -psecret db"`) is split into words, quotes kept
together, and each word is judged the same way.
Not masked: a name that ends in file, path or dir (`--key-file=/etc/ssl/k.pem`, `--password-file PATH`) names
where a secret is kept, not the secret, and tells processes apart.
"""

from __future__ import annotations

import os
import re

MASK = "********"
SENSITIVE_WORDS = ("password", "passwd", "passphrase", "pwd", "token", "secret", "key", "credential")
# A name that points to where a secret lives.
_REFERENCE_SUFFIXES = ("file", "path", "dir", "directory")
_TRIGGERS = SENSITIVE_WORDS + ("mysql", "mariadb")
_MYSQL_RE = re.compile(r"^(mysql|mariadb)[\w-]*$")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):([^\s@/]*)@")
# A word of a shell command: quoted parts stay with the word they belong to.
_WORD_RE = re.compile(r"""(?:"[^"]*"?|'[^']*'?|[^\s"'])+""")
_ASSIGN_RE = re.compile(r"^(-{0,2}[A-Za-z_][\w.-]*)=")
_FLAG_RE = re.compile(r"^-{1,2}[A-Za-z_][\w.-]*$")
# name=value inside a word: a DSN, mount options (user=a,password=b), a URL's query (?token=abc&x=1).
_EMBEDDED_RE = re.compile(r"([A-Za-z_][\w.-]*)=([^\s,;&\"']*)")


def is_sensitive(name):
    """Whether an argument name (dashes and all) holds a credential: it contains a sensitive word and does
    not merely name a file, path or directory."""
    word = name.lstrip("-").lower()
    if not any(sensitive in word for sensitive in SENSITIVE_WORDS):
        return False
    return not word.rstrip("_-.").endswith(_REFERENCE_SUFFIXES)


def scrub_cmdline(cmdline):
    """A copy of `cmdline` (a list of arguments; None or [] pass through) with credential values masked."""
    if not cmdline:
        return cmdline
    text = "\0".join(cmdline).lower()
    # Most command lines hold nothing to mask: one pass over the text instead of the regexes per argument
    # (5,000 processes are scanned in about 200 ms; the regexes alone would double that).
    if "@" not in text and not any(word in text for word in _TRIGGERS):
        return list(cmdline)
    return _scrub_words(list(cmdline), shell=False)


def _scrub_words(words, shell):
    out = []
    mysql = False
    mask_next = False
    for word in words:
        if mask_next and not word.startswith("-"):
            out.append(MASK)
            mask_next = False
            continue
        mask_next = False
        assign = _ASSIGN_RE.match(word)
        if assign and is_sensitive(assign.group(1)):
            # The whole rest is the value, spaces included (one argument of an argv, or one shell word).
            out.append(assign.group(0) + MASK)
            continue
        if not shell and any(space in word for space in " \t\n"):
            out.append(_scrub_shell(word))
            continue
        if _MYSQL_RE.match(os.path.basename(_unquote(word))):
            mysql = True
        if mysql and word.startswith("-p") and len(word) > 2:
            out.append("-p" + MASK)
            continue
        if _FLAG_RE.match(word) and is_sensitive(word):
            # mysql's --password and -p without a value prompt; the next word is not theirs.
            mask_next = not (mysql and word.lstrip("-").lower() in ("password", "p"))
        out.append(_EMBEDDED_RE.sub(_mask_embedded, _URL_RE.sub(r"\1:" + MASK + "@", word)))
    return out


def _mask_embedded(match):
    if not match.group(2) or not is_sensitive(match.group(1)):
        return match.group(0)
    return match.group(1) + "=" + MASK


def _scrub_shell(text):
    """One argument holding a shell command: mask word by word, keep the rest of the text as it is."""
    spans = [(match.start(), match.end()) for match in _WORD_RE.finditer(text)]
    scrubbed = _scrub_words([text[start:end] for start, end in spans], shell=True)
    pieces = []
    last = 0
    for (start, end), word in zip(spans, scrubbed):
        pieces.append(text[last:start])
        pieces.append(word)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _unquote(word):
    return word.strip("\"'")
