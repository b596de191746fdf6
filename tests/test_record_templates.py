"""The record pages' templates: a list's rows written out in one loop show what the one-item macros show."""

from __future__ import annotations

from decimal import Decimal
from itertools import product
from types import SimpleNamespace

import pytest

from portal import i18n
from portal.templating import make_templates

# A result's row as the single macros compose it (what records/_macros.html had before the list's rows were
# written out in one loop): result_items must render exactly this for every row.
COMPOSED = """{% from "records/_macros.html" import flag, value, range, place, learn with context %}
{% from "records/_macros.html" import result_items with context %}
{%- macro composed(row, with_learn) %}{% set o = row.observation %}
<li><a href="/p/{{ patient_id }}/results/{{ o.public_id }}">{{ o|test_name }}</a>
  <span class="result-value">{{ value(o) }}</span> {{ flag(row.flag) }}
  {{ place(o) }}
  {% if range(o)|trim %}<span class="hint">{{ _("Normal range:") }} {{ range(o) }}</span>{% endif %}
  {% if not row.released %}<span class="hint flag-abnormal">{{ _("Not yet released to the patient")
    }}</span>{% endif %}
  {% if with_learn %}{{ learn(o) }}{% endif %}</li>
{% endmacro -%}
{% for row in rows %}{{ composed(row, with_learn) }}{% endfor %}|{{ result_items(rows, with_learn) }}"""

FLAGS = [None, "normal", "high", "low", "critical_high", "critical_low", "abnormal"]
RANGES = [(Decimal("3.5"), Decimal("5.1")), (None, Decimal("200")), (Decimal("40"), None), (None, None)]


def observation(
    number: int, value: Decimal | None, low: Decimal | None, high: Decimal | None
) -> SimpleNamespace:
    return SimpleNamespace(
        public_id=f"obs{number}",
        code="2345-7" if number % 2 else None,
        display="Glucose [Mass/volume] in Serum or Plasma",
        value=value,
        value_text=None if value is not None else "Positive <see note>",
        comparator="<" if number % 5 == 0 else None,
        unit="mmol/L" if number % 3 else None,
        reference_low=low,
        reference_high=high,
        reference_text="Negative" if number % 4 == 0 else None,
        code_system="http://loinc.org",
    )


def every_kind_of_row() -> list[SimpleNamespace]:
    values = [Decimal("4.2"), Decimal("1234.5"), Decimal("2"), None]
    return [
        SimpleNamespace(
            observation=observation(number, value, low, high), flag=flag, released=number % 3 != 0
        )
        for number, (flag, (low, high), value) in enumerate(product(FLAGS, RANGES, values))
    ]


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("with_learn", [False, True])
def test_result_rows_in_one_loop_match_the_single_result_macros(lang: str, with_learn: bool) -> None:
    template = make_templates().env.from_string(COMPOSED)
    rows = every_kind_of_row()

    with i18n.using(lang):
        composed, looped = template.render(
            rows=rows,
            with_learn=with_learn,
            patient_id="p1",
            learn_more=lambda item: f"https://example.org/learn?c={item.code}" if item.code else None,
        ).split("|")

    assert looped == composed
    assert looped.count("<li>") == len(rows)
    assert "&lt;see note&gt;" in looped  # the EHR's text is escaped
    assert ("range-place" in looped) and ("flag-high" in looped) and ('class="learn"' in looped) == with_learn


@pytest.mark.parametrize("lang", ["en", "es"])
def test_template_translations_format_and_escape_like_jinja_newstyle_gettext(lang: str) -> None:
    env = make_templates().env
    source = (
        '{{ _("Summary") }}|{{ _("up to %(n)s", n="<b>") }}|{{ gettext("Summary") }}'
        '|{{ ngettext("%(num)d unread message", "%(num)d unread messages", 2) }}'
        '|{% trans %}In an emergency, call <a href="tel:911">911</a>.{% endtrans %}'
        '|{% autoescape false %}{{ _("up to %(n)s", n="<b>") }}{% endautoescape %}'
        '|{{ pgettext("menu", "Open %(what)s", what="<i>") }}'
        '|{{ npgettext("menu", "%(num)d file", "%(num)d files", 3) }}'
    )

    with i18n.using(lang):
        html = env.from_string(source).render()
        expected = [
            i18n.gettext("Summary"),
            i18n.gettext("up to %(n)s") % {"n": "&lt;b&gt;"},
            i18n.gettext("Summary"),
            i18n.ngettext("%(num)d unread message", "%(num)d unread messages", 2) % {"num": 2},
            i18n.gettext('In an emergency, call <a href="tel:911">911</a>.'),
            i18n.gettext("up to %(n)s") % {"n": "<b>"},
            i18n.pgettext("menu", "Open %(what)s") % {"what": "&lt;i&gt;"},
            i18n.npgettext("menu", "%(num)d file", "%(num)d files", 3) % {"num": 3},
        ]

    assert html.split("|") == expected
    assert (html.split("|")[0] == "Resumen") == (lang == "es")
