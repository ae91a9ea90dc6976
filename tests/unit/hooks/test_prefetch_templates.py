"""The labs query asks the FHIR server for exactly the laboratory codes the mapping reads."""

from cds.fhir.terminology import terminology
from cds.hooks.prefetch import TEMPLATES


def test_the_labs_query_asks_for_every_laboratory_code_the_mapping_reads():
    term = terminology()
    query = TEMPLATES["labs"]
    wanted = {code for q in term.quantities if q.field.section == "labs" for system, code in q.codes}
    wanted |= {f.key[1] for f in term.findings if f.field.section == "labs"}
    wanted.add("32167-9")  # urine clarity, a laboratory result that fills a symptom
    wanted |= {"24356-8", "24357-6"}  # urinalysis panels: the strip results come as components
    assert {f"http://loinc.org|{code}" for code in wanted} <= set(query.split("code=")[1].split("&")[0].split(","))
    assert "{{context.patientId}}" in query and query.count("{{") == 1
