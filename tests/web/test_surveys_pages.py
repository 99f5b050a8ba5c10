from sqlalchemy import select
from models import Survey, Indicator, Need
from pilotis.database import write_session


def test_explore(engine, demo, login_as):
    with write_session(engine) as s:
        for sv in s.scalars(select(Survey)):
            print(sv.id, sv.organisation_id, sv.title, sv.state, sv.token, sv.themes, sv.version)
        for i in s.scalars(select(Indicator).where(Indicator.organisation_id == demo.organisation_id, Indicator.unit == "%", Indicator.formula.is_(None))):
            print("IND", i.id, i.code if hasattr(i, "code") else "", i.label, i.service_id)
    print(demo.slug)
    c = login_as("direction")
    for path in ["/enquetes", "/enquetes/1/resultats?par=territory", "/enquetes/4/resultats", "/enquetes/3/verbatims", "/scenarios"]:
        r = c.get(path)
        __import__("pathlib").Path("/tmp/scratch/" + path.replace("/", "_").replace("?", "_") + ".html").write_text(r.get_data(as_text=True))
        print(path, r.status_code)
