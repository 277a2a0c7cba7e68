#!/usr/bin/env python3
"""Generates the demo project's seed CSVs (deterministic: the same files every run).

The data is realistic and deliberately dirty where the domain is dirty: two healthcare clients
whose member files differ in naming and date formats, with invalid state codes, malformed zip
codes, impossible dates and duplicate rows; product events as nested API JSON; coverage-API call
logs with manual overrides; hiring records; and a fragrance catalogue exported from a CMS and
from the product library, which disagree: items on one side only, fields that differ, duplicate
rows, edits made late on either side, and SKUs and prices typed differently.

Usage: python3 scripts/gen_demo_data.py   (writes into seeds/)
"""
import csv
import datetime as dt
import json
import os
import random

R = random.Random(2024)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seeds")

FIRST = ["Ana", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemi",
         "Luis", "Maya", "Nour", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera",
         "Wes", "Xia", "Yusuf", "Zoe"]
LAST = ["Silva", "Okafor", "Nguyen", "Smith", "Garcia", "Kowalski", "Haddad", "Ito", "Moreau",
        "Patel", "Reyes", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Young", "Zhang"]
STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC", "MA", "AZ"]
BAD_STATES = ["XX", "Calif", "N.Y.", ""]
PLANS = ["BRONZE", "SILVER", "GOLD"]


def write(name, header, rows):
    os.makedirs(ROOT, exist_ok=True)
    with open(os.path.join(ROOT, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def rand_date(start, end):
    return start + dt.timedelta(days=R.randrange((end - start).days))


def zip_code():
    z = f"{R.randrange(1000, 99999):05d}"
    roll = R.random()
    if roll < 0.03:
        return z[:4]  # too short
    if roll < 0.05:
        return "ABCDE"
    return z


def state():
    return R.choice(BAD_STATES) if R.random() < 0.04 else R.choice(STATES)


def members():
    a_rows, b_rows, ids = [], [], []
    for i in range(1, 401):
        dob = rand_date(dt.date(1940, 1, 1), dt.date(2005, 12, 31))
        start = rand_date(dt.date(2021, 1, 1), dt.date(2023, 6, 30))
        end = start + dt.timedelta(days=R.choice([180, 365, 730]))
        dob_text = dob.strftime("%m/%d/%Y")
        if R.random() < 0.02:
            dob_text = "11/31/2001"  # impossible date
        row = [f"A{i:04d}", R.choice(FIRST), R.choice(LAST), dob_text, state(), zip_code(),
               R.choice(PLANS), start.strftime("%m/%d/%Y"), end.strftime("%m/%d/%Y")]
        a_rows.append(row)
        ids.append(("client_a", f"A{i:04d}"))
        # A few members send an update later: a second record with a later end date.
        if R.random() < 0.1:
            later = row.copy()
            later[8] = (end + dt.timedelta(days=365)).strftime("%m/%d/%Y")
            a_rows.append(later)
        if R.random() < 0.02:
            a_rows.append(row.copy())  # exact duplicate
    for i in range(1, 351):
        dob = rand_date(dt.date(1940, 1, 1), dt.date(2005, 12, 31))
        start = rand_date(dt.date(2021, 1, 1), dt.date(2023, 6, 30))
        end = start + dt.timedelta(days=R.choice([365, 730]))
        dob_text = dob.isoformat()
        if R.random() < 0.02:
            dob_text = "2021-02-30"  # impossible date
        row = [f"B-{i:05d}", R.choice(FIRST), R.choice(LAST), dob_text, state(), zip_code(),
               R.choice(PLANS).lower(), start.isoformat(), end.isoformat()]
        b_rows.append(row)
        ids.append(("client_b", f"B-{i:05d}"))
        if R.random() < 0.02:
            b_rows.append(row.copy())
    write("client_a_members.csv",
          ["member_id", "member_first_name", "member_last_name", "member_dob", "member_state",
           "member_zip", "plan", "eligibility_start", "eligibility_end"], a_rows)
    write("client_b_registrations.csv",
          ["registration_id", "first_name", "last_name", "date_of_birth", "state_code",
           "zip_code", "plan_code", "start_date", "end_date"], b_rows)
    return ids


def claims(ids):
    rows = []
    for i in range(1, 3001):
        client, member = R.choice(ids)
        service = rand_date(dt.date(2022, 1, 1), dt.date(2023, 12, 31))
        rows.append([f"C{i:06d}", client, member, service.isoformat(),
                     f"{R.uniform(20, 2500):.2f}", R.choice(["paid", "paid", "paid", "denied", "pending"])])
    write("claims.csv", ["claim_id", "client", "member_id", "service_date", "amount", "claim_status"], rows)


def events():
    users = [f"u{i:03d}" for i in range(1, 121)]
    corps = {f"corp{i:02d}": R.choice(["active", "active", "active", "suspended"]) for i in range(1, 16)}
    user_corp = {u: R.choice(list(corps)) for u in users}
    rows = []
    for i in range(1, 4001):
        user = R.choice(users)
        corp = user_corp[user]
        at = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=R.randrange(31 * 24 * 3600))
        payload = {
            "event": {"type": R.choice(["login", "search", "view", "download", "logout"]),
                      "time": at.strftime("%Y-%m-%d %H:%M:%S")},
            "device": {"id": f"d{R.randrange(1, 300):03d}", "os": R.choice(["ios", "android", "web"])},
            "user": {"id": user, "corporate": {"id": corp, "status": corps[corp]}},
        }
        rows.append([i, json.dumps(payload, separators=(",", ":"))])
    write("raw_events.csv", ["event_id", "payload"], rows)


def coverage():
    members = [f"M{i:04d}" for i in range(1, 301)]
    rows = []
    for i in range(1, 2001):
        at = dt.datetime(2024, 3, 1) + dt.timedelta(seconds=R.randrange(14 * 24 * 3600))
        status = R.choices([200, 404, 500], weights=[90, 7, 3])[0]
        rows.append([f"call{i:05d}", at.strftime("%Y-%m-%d %H:%M:%S"), R.choice(members),
                     R.choice(PLANS), "eligible" if R.random() < 0.8 else "ineligible",
                     status, R.randrange(20, 900)])
    rows.sort(key=lambda r: r[1])
    write("api_calls_log.csv",
          ["call_id", "called_at", "member_id", "plan", "eligibility", "status_code", "latency_ms"], rows)
    overrides = []
    for m in R.sample(members, 40):
        at = dt.datetime(2024, 3, 1) + dt.timedelta(seconds=R.randrange(14 * 24 * 3600))
        overrides.append([m, R.choice(["eligible", "ineligible"]), at.strftime("%Y-%m-%d %H:%M:%S"),
                          R.choice(["appeal granted", "employer correction", "data entry fix"])])
    write("manual_overrides.csv", ["member_id", "override_eligibility", "overridden_at", "reason"], overrides)


def hiring():
    departments = ["Supply Chain", "Maintenance", "Staff", "Research and Development", "Product Management",
                   "Sales", "Accounting", "Human Resources", "Legal", "Engineering", "Marketing", "Support"]
    write("departments.csv", ["id", "department"], [[i + 1, d] for i, d in enumerate(departments)])
    jobs = ["Analyst", "Engineer", "Manager", "Technician", "Recruiter", "Accountant", "Designer",
            "Counsel", "Representative", "Coordinator"]
    write("jobs.csv", ["id", "job"], [[i + 1, j] for i, j in enumerate(jobs)])
    rows = []
    weights = [R.randint(1, 10) for _ in departments]
    for i in range(1, 1501):
        hired = dt.datetime(2021, 1, 1) + dt.timedelta(seconds=R.randrange(2 * 365 * 24 * 3600))
        dept = R.choices(range(1, len(departments) + 1), weights=weights)[0]
        rows.append([i, f"{R.choice(FIRST)} {R.choice(LAST)}", hired.strftime("%Y-%m-%d %H:%M:%S"),
                     dept, R.randrange(1, len(jobs) + 1)])
    write("hired_employees.csv", ["id", "name", "hired_at", "department_id", "job_id"], rows)


HOUSES = ["Maison Lune", "Atelier Cedre", "Nordic Bloom", "Ambre Noir", "Vetiver & Co", "Casa Neroli"]
NOTES = ["bergamot", "rose", "oud", "vanilla", "vetiver", "neroli", "amber", "iris", "fig", "cedar",
         "tonka", "saffron", "musk", "jasmine", "pepper"]
STRENGTHS = ["EDT", "EDP", "PARFUM"]
CMS_STRENGTH = {"EDT": ["Eau de Toilette", "EDT", "edt"], "EDP": ["Eau de Parfum", "EDP", "edp "],
                "PARFUM": ["Parfum", "parfum", "Extrait"]}


def fragrances():
    """The CMS export and the product library export of one catalogue of 300 products."""
    cms, library = [], []
    base = dt.datetime(2024, 5, 1)
    for i in range(1, 301):
        sku = f"FR-{i:04d}"
        name = f"{R.choice(NOTES).title()} {R.choice(['No.', 'Nuit', 'Absolu', 'Intense', 'Eau'])} {i}"
        house = R.choice(HOUSES)
        strength = R.choice(STRENGTHS)
        size = R.choice([30, 50, 100])
        price = round(R.uniform(45, 320), 2)
        lib_at = base + dt.timedelta(minutes=R.randrange(60 * 24 * 30))
        roll = R.random()
        in_cms = roll >= 0.07  # 7% exist only in the library
        in_library = roll < 0.93  # 7% exist only in the CMS
        # Fields the CMS has changed since the library last synced.
        cms_name, cms_house, cms_size, cms_price = name, house, size, price
        cms_at = lib_at - dt.timedelta(days=R.randrange(1, 20))
        if R.random() < 0.25:
            field = R.choice(["name", "house", "size", "price", "price"])
            if field == "name":
                cms_name = name + " Edition"
            elif field == "house":
                cms_house = R.choice([h for h in HOUSES if h != house])
            elif field == "size":
                cms_size = R.choice([s for s in [30, 50, 100] if s != size])
            else:
                cms_price = round(price * R.choice([0.9, 1.1, 1.15]), 2)
            # Either side may hold the later edit.
            cms_at = lib_at + dt.timedelta(days=R.randrange(-10, 11) or 1)
        if in_cms:
            # Prices as editors type them, SKUs with stray case and spaces.
            shown = R.choice([f"${cms_price:.2f}", f"{cms_price:.2f}", f"{cms_price:.2f}".replace(".", ",")])
            shown_sku = R.choice([sku, sku, sku.lower(), f" {sku}"])
            status = "published" if R.random() < 0.9 else "draft"
            notes = ", ".join(R.sample(NOTES, 3))
            row = [f"cms-{i:05d}", shown_sku, cms_name, cms_house, R.choice(CMS_STRENGTH[strength]),
                   cms_size, shown, notes, status, cms_at.strftime("%Y-%m-%dT%H:%M:%SZ")]
            # A late edit: an earlier version of the entry is exported too.
            if R.random() < 0.08:
                old = row.copy()
                old[2] = cms_name + " (draft)"
                old[9] = (cms_at - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
                cms.append(old)
            cms.append(row)
        if in_library:
            row = [sku, name, house, strength, R.choice([f"{size}ml", f"{size} ml", f"{size} ML"]),
                   f"{price:.2f}", "Y" if R.random() < 0.05 else "N", lib_at.strftime("%Y-%m-%d %H:%M:%S")]
            library.append(row)
            if R.random() < 0.03:
                library.append(row.copy())  # exact duplicate from a double export
    R.shuffle(cms)
    write("cms_fragrances.csv",
          ["entry_id", "sku", "title", "brand", "concentration", "size_ml", "price", "notes", "status",
           "updated_at"], cms)
    write("library_products.csv",
          ["product_code", "product_name", "house", "strength", "volume", "list_price", "discontinued",
           "modified_at"], library)


if __name__ == "__main__":
    ids = members()
    claims(ids)
    events()
    coverage()
    hiring()
    fragrances()
