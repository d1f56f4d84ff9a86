"""Applying :mod:`services.netd.rules` with the host's iptables binary (nf_tables backend).

Every change is idempotent: chains are created when missing, a rule is checked
with ``-C`` before it is appended, deletes repeat while the rule exists. Only
chains named with this cluster's prefix are ever flushed or deleted; the
built-in chains get exactly one jump each, and nothing else of theirs is read
or changed — a Docker's ``DOCKER-*`` chains on the same host stay untouched.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Collection, Sequence

from services.common.errors import Internal
from services.netd.rules import BASE_TAG, FILTER, NAT, RAW, Chains, Rule, base_rules

log = logging.getLogger(__name__)

IPTABLES = "iptables"
IPTABLES_RESTORE = "iptables-restore"
# Serialise our calls: iptables -w waits on the xtables lock anyway, and one
# at a time keeps a network's rules in the order they were rendered.
_lock = asyncio.Lock()


async def _run(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        IPTABLES, "-w", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    rc = process.returncode or 0
    return rc, (out if rc == 0 else err).decode(errors="replace")


async def _must(*args: str) -> str:
    rc, text = await _run(*args)
    if rc != 0:
        raise Internal(f"iptables {' '.join(args)}: {text.strip()}")
    return text


async def _exists(table: str, chain: str, args: Sequence[str]) -> bool:
    rc, _ = await _run("-t", table, "-C", chain, *args)
    return rc == 0


async def _chain_exists(table: str, chain: str) -> bool:
    rc, _ = await _run("-t", table, "-n", "-L", chain)
    return rc == 0


async def ensure_chains(chains: Chains) -> None:
    """Create the cluster's chains, their base rules and the jumps into them."""
    async with _lock:
        for table, chain in chains.own():
            if not await _chain_exists(table, chain):
                await _must("-t", table, "-N", chain)
        for position, rule in enumerate(base_rules(chains), start=1):
            if not await _exists(rule.table, rule.chain, rule.args):
                # Base rules come first in their chain, in order: insert, never append.
                await _must("-t", rule.table, "-I", rule.chain, str(position), *rule.args)
        for table, builtin, args in chains.jumps():
            if not await _exists(table, builtin, args):
                await _must("-t", table, "-I", builtin, "1", *args)


async def add_rules(rules: Sequence[Rule]) -> None:
    async with _lock:
        for rule in rules:
            if not await _exists(rule.table, rule.chain, rule.args):
                await _must("-t", rule.table, "-A", rule.chain, *rule.args)


async def delete_rules(rules: Sequence[Rule]) -> None:
    async with _lock:
        for rule in rules:
            while await _exists(rule.table, rule.chain, rule.args):
                await _must("-t", rule.table, "-D", rule.chain, *rule.args)


async def _restore(text: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        IPTABLES_RESTORE, "-w", "--noflush",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate(text.encode())
    return process.returncode or 0, err.decode(errors="replace")


def restore_text(op: str, rules: Sequence[Rule]) -> str:
    """An iptables-restore script that applies ``op`` (-A or -D) to every rule."""
    out = []
    for table in (RAW, NAT, FILTER):
        mine = [r for r in rules if r.table == table]
        if mine:
            out.append(f"*{table}")
            out += [shlex.join((op, r.chain, *r.args)) for r in mine]
            out.append("COMMIT")
    return "\n".join(out) + "\n"


async def append_new_rules(rules: Sequence[Rule]) -> None:
    """Append rules known to be absent (a new sandbox's) in one iptables-restore run:
    one process and one nf_tables commit instead of two per rule."""
    if not rules:
        return
    async with _lock:
        rc, text = await _restore(restore_text("-A", rules))
    if rc != 0:
        raise Internal(f"iptables-restore: {text.strip()}")


async def delete_rules_fast(rules: Sequence[Rule]) -> None:
    """Delete rules in one run; if any was already gone, fall back to one at a time."""
    if not rules:
        return
    async with _lock:
        rc, _ = await _restore(restore_text("-D", rules))
    if rc != 0:
        await delete_rules(rules)


def _tag_of(args: Sequence[str]) -> str:
    for index, arg in enumerate(args[:-1]):
        if arg == "--comment":
            return args[index + 1]
    return ""


async def chain_rules(table: str, chain: str) -> list[tuple[str, ...]]:
    """The rules of one own chain as argument lists (without ``-A CHAIN``); [] if absent."""
    rc, text = await _run("-t", table, "-S", chain)
    if rc != 0:
        return []
    rules = []
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "-A" and words[1] == chain:
            rules.append(tuple(words[2:]))
    return rules


async def remove_orphans(chains: Chains, live_tags: Collection[str]) -> int:
    """Delete rules in own chains whose tag names no live network or sandbox; the count.

    Rules without a tag cannot be ours to judge — an admin may have added them
    to our chain by hand — so they are left alone.
    """
    removed = 0
    async with _lock:
        for table, chain in chains.own():
            for args in await chain_rules(table, chain):
                tag = _tag_of(args)
                ours = tag.startswith(("net:", "ctr:")) and tag.endswith(f":{chains.cluster}")
                if ours and tag not in live_tags and tag != BASE_TAG:
                    rc, text = await _run("-t", table, "-D", chain, *args)
                    if rc == 0:
                        removed += 1
                    else:
                        log.warning("cannot delete orphan rule", extra={"error": text.strip()})
    return removed


async def remove_chains(chains: Chains) -> None:
    """Delete the jumps into the cluster's chains, then the chains themselves."""
    async with _lock:
        for table, builtin, args in chains.jumps():
            while await _exists(table, builtin, args):
                await _must("-t", table, "-D", builtin, *args)
        for table, chain in chains.own():
            if await _chain_exists(table, chain):
                await _must("-t", table, "-F", chain)
        for table, chain in chains.own():
            if await _chain_exists(table, chain):
                await _must("-t", table, "-X", chain)


async def available() -> bool:
    """Whether the iptables binary runs at all (it is absent in some containers)."""
    try:
        rc, _ = await _run("-t", "filter", "-S", "FORWARD")
    except OSError:
        return False
    return rc == 0
