#!/usr/bin/env python3
"""The functions a running agent executes, for cli/agent-hot-code.txt (see cli/build.rs).

    agent_layout.py PID BINARY OUT

Reads which pages of BINARY's code are resident in process PID (/proc/PID/pagemap, root
only) and writes the names of every function on those pages to OUT, in address order, for
lld's --symbol-ordering-file. It is only exact when each resident page was faulted in alone:
`benches/agent_footprint.sh` with LAYOUT_OUT=... starts the agent with the disk's readahead off
and drops the binary from the page cache once the agent has released its start-up code, so
that what is resident afterwards is what the agent ran since.

Also: agent_layout.py --check LIST BINARY prints how many of LIST's names BINARY has.
"""
import bisect
import os
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def functions(binary):
    """(start, size, name) of every defined function symbol, sorted by address."""
    out = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW" and int(fields[1], 16) > 0:
            found.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
    found.sort()
    return found


def resident_code_pages(pid, binary):
    """Link-time addresses of BINARY's resident executable pages in PID."""
    real = os.path.realpath(binary)
    maps = [line.split() for line in open(f"/proc/{pid}/maps")]
    mine = [m for m in maps if len(m) >= 6 and os.path.realpath(m[5]) == real]
    if not mine:
        sys.exit(f"agent_layout.py: process {pid} does not map {binary}")
    # A position-independent binary: its first mapping (file offset 0) is link address 0.
    base = int(mine[0][0].split("-")[0], 16) - int(mine[0][2], 16)
    pages = []
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for m in mine:
            if m[1] != "r-xp":
                continue
            start, end = (int(x, 16) for x in m[0].split("-"))
            for address in range(start, end, PAGE):
                pagemap.seek(address // PAGE * 8)
                (entry,) = struct.unpack("<Q", pagemap.read(8))
                if entry >> 63:  # present
                    pages.append(address - base)
    if not pages:
        sys.exit("agent_layout.py: no resident code page found (pagemap needs root)")
    return pages


def main():
    if sys.argv[1:2] == ["--check"]:
        listed = [line.split("#")[0].strip() for line in open(sys.argv[2])]
        listed = [name for name in listed if name]
        present = {name for _, _, name in functions(sys.argv[3])}
        matched = sum(name in present for name in listed)
        print(f"{matched} of {len(listed)}")
        return
    pid, binary, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    pages = resident_code_pages(pid, binary)
    syms = functions(binary)
    starts = [s[0] for s in syms]
    chosen, seen, code_bytes = [], set(), 0
    for page in pages:
        # Every function overlapping the page: the ones starting on it and the one running into it.
        i = max(bisect.bisect_right(starts, page) - 1, 0)
        while i < len(syms) and syms[i][0] < page + PAGE:
            start, size, name = syms[i]
            if start + size > page and name not in seen:
                seen.add(name)
                chosen.append(name)
                code_bytes += size
            i += 1
    with open(out, "w") as f:
        f.write(
            "# The functions the agent runs after start-up, linked first (cli/build.rs).\n"
            "# Written by benches/agent_footprint.sh with LAYOUT_OUT; do not edit by hand.\n"
        )
        f.write("".join(name + "\n" for name in chosen))
    print(f"{len(pages)} resident code pages ({len(pages) * PAGE // 1024} KiB): "
          f"{len(chosen)} functions, {code_bytes // 1024} KiB, written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
