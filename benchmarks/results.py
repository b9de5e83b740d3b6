"""Shared by the benchmarks: write one benchmark's section of benchmarks/RESULTS.md."""
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(name, body):
    """Replace (or add) the section between this benchmark's markers in RESULTS.md."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in benchmarks/.\n"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
