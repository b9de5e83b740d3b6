"""A Sphinx extension for the course website.

- Each page includes each script once: Jupyter Book 1 with sphinx-thebe adds some inline
  scripts twice to every page; the second ``const THEBE_JS_URL`` then throws "Identifier has
  already been declared" in the browser.
- The API reference's signatures name the type aliases of ``mia_course.hints`` (``ArrayLike``,
  ``RandomStateLike``, ...) instead of what they expand to (numpy's ``ArrayLike`` is a screenful
  of ``_Buffer | _SupportsArray[...]``): autodoc stringifies the evaluated annotations, and
  each alias's expansion is put back to its name.
- "Introduced in notebooks/NN_name.ipynb" in a docstring becomes a link to that lesson's page.
"""
import functools
import re

INTRODUCED_IN = re.compile(r"(Introduced in[^\n]*?)\bnotebooks/(\d\d_\w+)\.ipynb")


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script's filename is None or "" depending on who added it; priority ignored
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


@functools.lru_cache(maxsize=1)
def alias_expansions():
    """[(expanded text, alias name)] for every alias in ``mia_course.hints``, longest first, in
    each of the ways autodoc may write an annotation."""
    import typing

    from sphinx.util.typing import stringify_annotation

    from mia_course import hints

    pairs = []
    for name in hints.__all__:
        alias = getattr(hints, name)
        if isinstance(alias, type) and issubclass(alias, typing.Protocol):
            continue  # a class is shown by its name already
        for mode in ("smart", "fully-qualified-except-typing", "fully-qualified"):
            text = stringify_annotation(alias, mode)
            if text != name and len(text) > len(name):
                pairs.append((text, name))
    return tuple(sorted(set(pairs), key=lambda pair: -len(pair[0])))


def name_aliases(text, pairs):
    """``text`` (a signature) with each alias's expansion replaced by the alias's name."""
    if not text:
        return text
    for expanded, name in pairs:
        text = text.replace(expanded, name)
    return text


def link_lessons(lines):
    """Docstring lines with "Introduced in notebooks/NN_x.ipynb" made links to the lesson's page."""
    for i, line in enumerate(lines):
        lines[i] = INTRODUCED_IN.sub(lambda m: f"{m.group(1)}:doc:`{m.group(2)} </notebooks/{m.group(2)}>`", line)
    return lines


def _signature(app, what, name, obj, options, signature, return_annotation):
    pairs = alias_expansions()
    return name_aliases(signature, pairs), name_aliases(return_annotation, pairs)


def _docstring(app, what, name, obj, options, lines):
    link_lessons(lines)


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=999)  # after the themes add theirs
    app.setup_extension("sphinx.ext.autodoc")  # its events, also in a book without an API page
    app.connect("autodoc-process-signature", _signature)
    app.connect("autodoc-process-docstring", _docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
