"""Check-your-understanding quizzes: one per lesson, for self-checking, never graded.

Introduced in lesson 01 (every lesson from 01 on ends with one). Each lesson's questions live in
``mia_course/quizzes/NN.yaml`` (3-6 questions, each aimed at one misconception or key idea, an
explanation for every option, and the heading of the section that teaches it). ``quiz("NN")``
renders them as HTML with its style and script inline: nothing is loaded from elsewhere, so the
same output works in JupyterLab and, saved in the notebook, on the website without a kernel.
Without JavaScript (an untrusted notebook) every answer and explanation is still in a closed
``<details>`` box under each question.

Numbers that depend on the lesson's run are passed by the quiz cell (``quiz("02", auc=...)``) and
fill ``{name}`` / ``{name:.2f}`` fields of the question text.
"""
from __future__ import annotations

import html
import json
import re
import string
from pathlib import Path
from typing import Any

__all__ = ["QUIZ_DIR", "load_quiz", "validate_quiz", "quiz", "heading_anchor"]

QUIZ_DIR = Path(__file__).resolve().parent / "quizzes"
_KINDS = ("choice", "number")


def load_quiz(lesson: str) -> dict[str, Any]:
    """The quiz of ``lesson`` ("01" ... "15") as stored, after :func:`validate_quiz`.

    Introduced in lesson 01.
    """
    import yaml
    if not isinstance(lesson, str) or not re.fullmatch(r"\d\d", lesson):
        raise ValueError(f"lesson must be a two-digit string such as '04', got {lesson!r}")
    path = QUIZ_DIR / f"{lesson}.yaml"
    if not path.exists():
        raise ValueError(f"lesson {lesson!r} has no quiz ({path.name} is not in {QUIZ_DIR})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    validate_quiz(data, name=path.name)
    return data


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def validate_quiz(data: Any, name: str = "quiz") -> None:
    """Raise ValueError unless ``data`` is a well-formed quiz: 3-6 questions, each with a
    question, a ``targets`` line (the misconception or idea), a ``see`` heading, and either
    options (exactly one correct, every one with a ``why``) or a numeric answer with a
    tolerance and explanations.

    Introduced in lesson 01.
    """
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ValueError(f"{name}: a quiz is a mapping with a list under 'questions'")
    questions = data["questions"]
    if not 3 <= len(questions) <= 6:
        raise ValueError(f"{name}: has {len(questions)} questions; a quiz has 3 to 6")
    for i, q in enumerate(questions, 1):
        where = f"{name}, question {i}"
        for key in ("question", "targets", "see", "kind"):
            if not isinstance(q.get(key), str) or not q[key].strip():
                raise ValueError(f"{where}: '{key}' must be a non-empty string")
        if q["kind"] not in _KINDS:
            raise ValueError(f"{where}: kind must be one of {_KINDS}, got {q['kind']!r}")
        if q["kind"] == "choice":
            options = q.get("options")
            if not isinstance(options, list) or not 2 <= len(options) <= 6:
                raise ValueError(f"{where}: 'options' must list 2 to 6 options")
            if sum(bool(o.get("correct")) for o in options) != 1:
                raise ValueError(f"{where}: exactly one option must be correct")
            for o in options:
                if not str(o.get("text", "")).strip() or not str(o.get("why", "")).strip():
                    raise ValueError(f"{where}: every option needs a 'text' and a 'why'")
        else:
            if not isinstance(q.get("answer"), (int, float)) or not isinstance(q.get("tolerance"), (int, float)) \
                    or q["tolerance"] <= 0:
                raise ValueError(f"{where}: a number question needs 'answer' and a positive 'tolerance'")
            if not str(q.get("why", "")).strip() or not str(q.get("otherwise", "")).strip():
                raise ValueError(f"{where}: a number question needs 'why' (right) and 'otherwise' (wrong)")
            for w in q.get("wrong", []):
                if not isinstance(w.get("value"), (int, float)) or not str(w.get("why", "")).strip():
                    raise ValueError(f"{where}: each 'wrong' entry needs a 'value' and a 'why'")
                if abs(w["value"] - q["answer"]) <= q["tolerance"]:
                    raise ValueError(f"{where}: a 'wrong' value lies within the answer's tolerance")


def heading_anchor(heading: str) -> str:
    """The id JupyterLab gives a Markdown heading (spaces become '-'); the quiz's script also
    finds the heading by its text, so the link works on the website too.

    Introduced in lesson 01.
    """
    return heading.strip().replace(" ", "-")


def _inline(text: str) -> str:
    """A little Markdown: `code`, **bold**, *italics*, [text](url); everything else escaped."""
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*", r"<i>\1</i>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _question_html(i: int, q: dict[str, Any], values: dict[str, float]) -> str:
    text = _inline(q["question"].format(**values))
    see = q["see"]
    link = (f'<p class="mia-see">Where this is taught: <a href="#{_attr(heading_anchor(see))}" '
            f'data-heading="{_attr(see)}">{html.escape(see)}</a></p>')
    if q["kind"] == "choice":
        buttons = "".join(
            f'<button type="button" class="mia-opt" data-correct="{int(bool(o.get("correct")))}" '
            f'data-why="{_attr(_inline(o["why"]))}">{_inline(str(o["text"]))}</button>' for o in q["options"])
        listing = "".join(f'<li><b>{"Right" if o.get("correct") else "Wrong"}:</b> {_inline(str(o["text"]))}'
                          f' — {_inline(o["why"])}</li>' for o in q["options"])
        body = f'<div class="mia-opts">{buttons}</div>'
    else:
        wrong = json.dumps([[w["value"], w.get("tolerance", q["tolerance"]), _inline(w["why"])]
                            for w in q.get("wrong", [])])
        body = (f'<div class="mia-num" data-answer="{q["answer"]}" data-tolerance="{q["tolerance"]}" '
                f'data-why="{_attr(_inline(q["why"]))}" data-otherwise="{_attr(_inline(q["otherwise"]))}" '
                f'data-wrong="{_attr(wrong)}"><input type="text" inputmode="decimal" aria-label="your answer"> '
                f'<button type="button" class="mia-check">Check</button></div>')
        listing = (f'<li><b>Right:</b> {q["answer"]:g} (± {q["tolerance"]:g}) — {_inline(q["why"])}</li>'
                   + "".join(f'<li><b>Wrong:</b> {w["value"]:g} — {_inline(w["why"])}</li>'
                             for w in q.get("wrong", []))
                   + f'<li><b>Any other number:</b> {_inline(q["otherwise"])}</li>')
    return (f'<div class="mia-q" data-kind="{q["kind"]}"><p class="mia-q-text"><b>{i}.</b> {text}</p>{body}'
            f'<div class="mia-feedback" role="status" hidden></div>'
            f'<details class="mia-all"><summary>All answers, explained</summary><ul>{listing}</ul></details>'
            f'{link}</div>')


_STYLE = """<style>
.mia-quiz{border:1px solid #9aa5b1;border-radius:8px;padding:.6em 1em;margin:.5em 0;max-width:52em}
.mia-quiz .mia-q{margin:.8em 0 1.2em}
.mia-quiz .mia-opt{display:block;width:100%;text-align:left;margin:.25em 0;padding:.4em .6em;
 border:1px solid #9aa5b1;border-radius:6px;background:transparent;color:inherit;font:inherit;cursor:pointer}
.mia-quiz .mia-opt.mia-right{border:2px solid #1a7f37;background:rgba(26,127,55,.12)}
.mia-quiz .mia-opt.mia-wrong{border:2px solid #b42318;background:rgba(180,35,24,.10)}
.mia-quiz .mia-feedback{margin:.4em 0;padding:.4em .6em;border-left:4px solid #9aa5b1}
.mia-quiz .mia-feedback.mia-right{border-color:#1a7f37}.mia-quiz .mia-feedback.mia-wrong{border-color:#b42318}
.mia-quiz .mia-see,.mia-quiz .mia-note{font-size:90%;opacity:.85}
.mia-quiz input{font:inherit;width:8em;padding:.2em}
</style>"""

_SCRIPT = """<script>
(function () {
  function say(q, ok, why) {
    var fb = q.querySelector('.mia-feedback');
    fb.hidden = false; fb.className = 'mia-feedback ' + (ok ? 'mia-right' : 'mia-wrong');
    fb.innerHTML = '<b>' + (ok ? 'Right.' : 'Not quite.') + '</b> ' + why;
  }
  function findHeading(text) {
    var want = text.trim(), hs = document.querySelectorAll('h1,h2,h3,h4');
    for (var i = 0; i < hs.length; i++) {
      if (hs[i].textContent.replace(/[\\u00b6#]/g, '').trim() === want) { return hs[i]; }
    }
    return null;
  }
  function setup(root) {
    root.setAttribute('data-ready', '1');
    root.querySelectorAll('.mia-opt').forEach(function (b) {
      b.addEventListener('click', function () {
        var q = b.closest('.mia-q');
        q.querySelectorAll('.mia-opt').forEach(function (o) { o.classList.remove('mia-right', 'mia-wrong'); });
        var ok = b.getAttribute('data-correct') === '1';
        b.classList.add(ok ? 'mia-right' : 'mia-wrong');
        say(q, ok, b.getAttribute('data-why'));
      });
    });
    root.querySelectorAll('.mia-num').forEach(function (box) {
      var input = box.querySelector('input');
      function check() {
        var q = box.closest('.mia-q'), x = parseFloat(input.value.replace(',', '.'));
        if (isNaN(x)) { say(q, false, 'Type a number first.'); return; }
        if (Math.abs(x - parseFloat(box.dataset.answer)) <= parseFloat(box.dataset.tolerance)) {
          say(q, true, box.dataset.why); return;
        }
        var wrong = JSON.parse(box.dataset.wrong);
        for (var i = 0; i < wrong.length; i++) {
          if (Math.abs(x - wrong[i][0]) <= wrong[i][1]) { say(q, false, wrong[i][2]); return; }
        }
        say(q, false, box.dataset.otherwise);
      }
      box.querySelector('.mia-check').addEventListener('click', check);
      input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { check(); } });
    });
    root.querySelectorAll('.mia-see a').forEach(function (a) {
      a.addEventListener('click', function (e) {
        var h = document.getElementById(a.getAttribute('href').slice(1)) || findHeading(a.dataset.heading);
        if (h) { e.preventDefault(); h.scrollIntoView({block: 'start'}); }
      });
    });
  }
  document.querySelectorAll('.mia-quiz:not([data-ready])').forEach(setup);
})();
</script>"""


def quiz(lesson: str, **values: float) -> Any:
    """The quiz of ``lesson`` as an ``IPython.display.HTML`` (the last line of a cell shows it);
    ``values`` fill the question texts' ``{name}`` fields with numbers from the lesson's run.

    Introduced in lesson 01.
    """
    from IPython.display import HTML
    data = load_quiz(lesson)
    needed = set().union(*(_fields(q["question"]) for q in data["questions"]))
    missing, extra = sorted(needed - set(values)), sorted(set(values) - needed)
    if missing or extra:
        raise ValueError(f"quiz({lesson!r}): values must be exactly {sorted(needed)}; "
                         f"missing {missing}, unexpected {extra}")
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise TypeError(f"quiz({lesson!r}): {key} must be a number, got {type(value).__name__}")
    values = {k: float(v) for k, v in values.items()}
    body = "".join(_question_html(i, q, values) for i, q in enumerate(data["questions"], 1))
    note = ('<p class="mia-note">For yourself, not graded: pick an answer to see why it is right or '
            'wrong; each question links back to the section that teaches it.</p>')
    return HTML(f'<div class="mia-quiz" id="mia-quiz-{lesson}" data-lesson="{lesson}">'
                f'{_STYLE}{note}{body}{_SCRIPT}</div>')
