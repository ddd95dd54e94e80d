"""Model files that try to make sdnet run code: the corpus of tests/unit/test_translation.py.

Each entry is a model text with ``{mark}`` where the payload names its marker file: the payload
creates that file if it ever runs. Every vector of PySD 3.14's Python builder that copies model
text into the generated module is covered: documentation (docstrings), names and units
(``repr``), subscript ranges and elements, lookups, macros, external-data file names, XMILE.
"""

from __future__ import annotations

# runs only if a docstring or a string literal of the generated code is broken out of
DOUBLE = '__import__("pathlib").Path(r"{mark}").touch()'
SINGLE = "__import__('pathlib').Path(r'{mark}').touch()"

CONTROL = """
FINAL TIME = 4 ~ Year ~ The final time. |
INITIAL TIME = 0 ~ Year ~ The initial time. |
SAVEPER = 1 ~ Year [0,?] ~ Save. |
TIME STEP = 1 ~ Year [0,?] ~ Step. |
"""


def vensim(body: str, *, head: str = "") -> str:
    """A model file: ``head`` (macros), ``body``, a stock fed by a lever, the control section."""
    return (
        "{{UTF-8}}\n" + head + body + "\nStock = INTEG(Rate * Stock, 1) ~ unit ~ The stock. |\n"
        "Rate = 0.1 ~ 1/Year [0,1] ~ [lever] The rate. |\n" + CONTROL
    )


MDL: dict[str, str] = {
    "documentation": vensim(
        'Flow = Rate ~ unit/Year ~ x """ + str(' + DOUBLE + ') + """ y |'
    ),
    "documentation_single_quotes": vensim(
        "Flow = Rate ~ unit/Year ~ x ''' + str(" + SINGLE + ") + ''' y |"
    ),
    "documentation_backslash": vensim(
        'Flow = Rate ~ unit/Year ~ x \\\\"""; ' + DOUBLE + '; """ |'
    ),
    "units": vensim(
        'Flow = Rate ~ unit""" + str(' + DOUBLE + ') + """ ~ A flow. |'
    ),
    "name": vensim(
        "\"Evil') + str(" + SINGLE + ") + ('\" = Rate ~ unit/Year ~ A flow. |"
    ),
    "subscript_range": vensim(
        "\"Reg'] + str(" + SINGLE + ") + ['\": A, B ~ ~ A range. |\n"
        "Flow[\"Reg'] + str(" + SINGLE + ") + ['\"] = Rate ~ unit/Year ~ A flow. |"
    ),
    "subscript_element": vensim(
        "Region: \"A') + str(" + SINGLE + ") + ('\", B ~ ~ A range. |\n"
        "Flow[Region] = Rate ~ unit/Year ~ A flow. |"
    ),
    "lookup": vensim(
        "\"Table') + str(" + SINGLE + ") + ('\"( [(0,0)-(10,10)],(0,0),(10,10) ) ~ unit ~ "
        'A lookup """ + str(' + DOUBLE + ') + """ |\n'
        "Flow = \"Table') + str(" + SINGLE + ") + ('\"(Time) ~ unit/Year ~ A flow. |"
    ),
    "macro": vensim(
        "Flow = DOUBLE(Rate) ~ unit/Year ~ A flow. |",
        head=":MACRO: DOUBLE(input)\nDOUBLE = 2 * input ~ unit ~ "
        'm """ + str(' + DOUBLE + ') + """ m |\n:END OF MACRO:\n',
    ),
    "external_file": vensim(
        "Flow = GET DIRECT CONSTANTS('data\\\\', ' + str(" + DOUBLE + ") + ', 'B2') "
        "~ unit/Year ~ A flow. |"
    ),
}

XMILE_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
  <header><vendor>test</vendor><product version="1">test</product></header>
  <sim_specs><start>0</start><stop>4</stop><dt>1</dt></sim_specs>
  <model>
    <variables>
      <stock name="Stock"><eqn>1</eqn><inflow>Flow</inflow><units>unit</units>
        <doc>{doc}</doc></stock>
      <flow name="Flow"><eqn>Rate * Stock</eqn><units>{units}</units></flow>
      <aux name="{name}"><eqn>0.1</eqn><doc>The rate.</doc></aux>
    </variables>
  </model>
</xmile>
"""


def xmile(*, doc: str = "A stock.", units: str = "unit/Year", name: str = "Rate") -> str:
    """An XMILE model with ``doc``, ``units`` and ``name`` (XML-escaped by the caller)."""
    body = XMILE_TEMPLATE.replace("{doc}", doc).replace("{units}", units)
    return body.replace("{name}", name)


XMILE: dict[str, str] = {
    "xmile_documentation": xmile(doc='x """ + str(' + DOUBLE.replace('"', "&quot;") + ') + """ y'),
    "xmile_units": xmile(units='u""" + str(' + DOUBLE.replace('"', "&quot;") + ') + """'),
}

#: a valid model whose comment merely holds three double quotes (it must load and run)
HARMLESS = vensim('Flow = Rate ~ unit/Year ~ He said """hello""" and left. |')
