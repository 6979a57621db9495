# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential-like argument values are masked in a returned command line, and nothing else is."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._engine.scrub import MASK, is_sensitive, scrub_cmdline

M = MASK

SCRUBBED = [
    # --name=value, every sensitive word, any case, as a part of the name
    (["app", "--password=hunter2"], ["app", "--password=" + M]),
    (["app", "--PassWord=hunter2"], ["app", "--PassWord=" + M]),
    (["app", "--db-passwd=x"], ["app", "--db-passwd=" + M]),
    (["app", "--passphrase=x"], ["app", "--passphrase=" + M]),
    (["app", "--pwd=x"], ["app", "--pwd=" + M]),
    (["app", "--auth-token=x"], ["app", "--auth-token=" + M]),
    (["app", "--client_secret=x"], ["app", "--client_secret=" + M]),
    (["app", "--api_key=x", "--apiKey=y", "--access-key=z"], ["app", "--api_key=" + M, "--apiKey=" + M, "--access-key=" + M]),
    (["app", "--credentials=a:b"], ["app", "--credentials=" + M]),
    (["app", "-token=x"], ["app", "-token=" + M]),
    # the value is all the rest of the argument, spaces and '=' included
    (["app", "--password=hunter 2=x"], ["app", "--password=" + M]),
    # --name value: the next argument
    (["app", "--password", "hunter2", "run"], ["app", "--password", M, "run"]),
    (["app", "--token", "a b c"], ["app", "--token", M]),
    # ... unless it is an option itself (the flag had no value), or there is none
    (["app", "--password", "--verbose"], ["app", "--password", "--verbose"]),
    (["app", "--password"], ["app", "--password"]),
    # name=value anywhere: env-like, options lists, DSNs, URL queries
    (["env", "PGPASSWORD=hunter2", "psql"], ["env", "PGPASSWORD=" + M, "psql"]),
    (["env", "MYSQL_PWD=hunter2", "mysql"], ["env", "MYSQL_PWD=" + M, "mysql"]),
    (["mount", "-o", "user=a,password=hunter2,ro", "//s/x"], ["mount", "-o", "user=a,password=" + M + ",ro", "//s/x"]),
    (["curl", "https://api.example/v1?token=abc&x=1"], ["curl", "https://api.example/v1?token=" + M + "&x=1"]),
    # URLs with user:password@host
    (["worker", "--broker", "amqp://guest:hunter2@rabbit:5672//"], ["worker", "--broker", "amqp://guest:" + M + "@rabbit:5672//"]),
    (["psql", "postgresql://app:hunter2@db/app"], ["psql", "postgresql://app:" + M + "@db/app"]),
    # mysql's -pVALUE for the mysql and mariadb clients
    (["mysql", "-uroot", "-phunter2", "db"], ["mysql", "-uroot", "-p" + M, "db"]),
    (["/usr/bin/mysqldump", "-phunter2"], ["/usr/bin/mysqldump", "-p" + M]),
    (["mysqladmin", "-phunter2", "status"], ["mysqladmin", "-p" + M, "status"]),
    (["mariadb-dump", "-phunter2"], ["mariadb-dump", "-p" + M]),
    (["timeout", "60", "mariadb", "-phunter2"], ["timeout", "60", "mariadb", "-p" + M]),
    # a whole shell command in one argument: word by word, quotes kept with their word, spacing kept
    (["sh", "-c", "mysql -u root -phunter2 db | gzip"], ["sh", "-c", "mysql -u root -p" + M + " db | gzip"]),
    (["sh", "-c", "app --password='hunter 2'  --x"], ["sh", "-c", "app --password=" + M + "  --x"]),
    (["sh", "-c", 'app --token "a b" run'], ["sh", "-c", "app --token " + M + " run"]),
    (["sh", "-c", "cd /x && PGPASSWORD=hunter2 psql -h db"], ["sh", "-c", "cd /x && PGPASSWORD=" + M + " psql -h db"]),
    # an argument that starts as an assignment may be a value with spaces: all of its rest is masked
    (["sh", "-c", "PGPASSWORD=hunter2 psql -h db"], ["sh", "-c", "PGPASSWORD=" + M]),
    (["sh", "-c", "psql 'host=db user=app password=hunter2'"], ["sh", "-c", "psql 'host=db user=app password=" + M + "'"]),
]

KEPT = [
    # mysql prompts for -p and --password without a value: nothing to mask, and the next word is not theirs
    ["mysql", "-u", "root", "-p", "db"],
    ["mysql", "--password", "db"],
    # -pVALUE means something else outside the mysql clients
    ["ssh", "-p2222", "host"],
    ["ps", "-p1234"],
    # where a secret is kept is not the secret
    ["nginx", "--key-file=/etc/ssl/private/site.pem"],
    ["app", "--password-file", "/run/secrets/db"],
    ["app", "--token_path=/var/run/token", "--keydir=/etc/keys"],
    # ordinary arguments
    ["/usr/lib/postgresql/bin/postgres", "-D", "/db"],
    ["sshd: /usr/sbin/sshd -D"],
    ["python3", "-c", "print('x = 1')"],
    ["app", "--user=admin", "http://example.org/path"],
]


@pytest.mark.parametrize("cmdline, expected", SCRUBBED, ids=[" ".join(c)[:40] for c, _e in SCRUBBED])
def test_credential_values_are_masked(cmdline, expected):
    assert scrub_cmdline(cmdline) == expected


@pytest.mark.parametrize("cmdline", KEPT, ids=[" ".join(c)[:40] for c in KEPT])
def test_other_arguments_are_returned_as_they_are(cmdline):
    assert scrub_cmdline(cmdline) == cmdline


@pytest.mark.parametrize("cmdline", [None, []])
def test_unreadable_and_empty_command_lines_pass_through(cmdline):
    assert scrub_cmdline(cmdline) == cmdline


def test_the_input_is_not_changed():
    cmdline = ["app", "--password=hunter2"]
    scrub_cmdline(cmdline)
    assert cmdline == ["app", "--password=hunter2"]


@pytest.mark.parametrize("name, sensitive", [
    ("--password", True), ("PASSWD", True), ("x-Api-Key", True), ("--secret", True), ("--credential", True),
    ("--key-file", False), ("--password_file", False), ("--tokenpath", False), ("--user", False), ("-p", False),
])
def test_sensitive_names(name, sensitive):
    assert is_sensitive(name) is sensitive
