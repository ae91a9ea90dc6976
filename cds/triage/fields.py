"""The encounter's field catalogue: one row per field of the wire contract (v1).

One table serves the request schema, the rule-base validator (a rule may only name a field that
exists, with a value of the field's kind) and the fact builder, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["bool", "enum", "int", "number", "string", "enum_list"]


@dataclass(frozen=True)
class Field:
    path: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    clinical: bool = True
    label: str = ""
    # a value the contract allows that says the answer is not known (patient.sex "unknown"):
    # the rules read it as unknown, never as an answer
    means_unknown: str | None = None
    # what a value below `low` means, when it is more than out of range (a child's age)
    below_low: str | None = None

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0] if "." in self.path else ""

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "number")


def _b(path: str, label: str) -> Field:
    return Field(path, "bool", label=label)


def _e(path: str, choices: tuple[str, ...], label: str) -> Field:
    return Field(path, "enum", choices=choices, label=label)


ADULT_AGE = 16  # the service triages adults: the contract refuses a younger patient
SEX = ("female", "male", "other", "unknown")
CONSCIOUSNESS = ("alert", "new_confusion", "voice", "pain", "unresponsive")
PAIN_SITES = ("lower_back", "upper_back", "thoracic", "flank", "neck")
DISTRIBUTION = ("diffuse", "localized")
LATERALITY = ("bilateral", "central", "left", "right")
TREND = ("improving", "stable", "worsening", "rapidly_worsening")
HEADACHE = ("none", "mild", "moderate", "severe")
LEG_WEAKNESS = ("none", "unilateral", "bilateral")
ONSET = ("sudden", "gradual")

FIELDS: tuple[Field, ...] = (
    Field("encounter_id", "string", 1, 128, clinical=False, label="encounter identifier"),
    Field(
        "patient.age_years",
        "int",
        ADULT_AGE,
        120,
        required=True,
        label="age in years",
        below_low=f"out of scope: adult service (age {ADULT_AGE} and over)",
    ),
    Field("patient.sex", "enum", choices=SEX, label="sex", means_unknown="unknown"),
    _b("patient.pregnant", "pregnant"),
    _b("patient.recently_pregnant", "gave birth or pregnancy ended in the last 6 weeks"),
    _b("history.cancer", "any history of malignancy"),
    _b("history.iv_drug_use", "intravenous drug use"),
    _b("history.immunosuppressed", "immunosuppressed"),
    _b("history.recent_spinal_procedure", "spinal procedure in the last 6 weeks"),
    _b("history.recent_surgery_or_trauma", "surgery or significant trauma in the last 6 weeks"),
    _b("history.chemotherapy_last_6_weeks", "anticancer chemotherapy in the last 6 weeks"),
    _b("history.diabetes", "diabetes mellitus"),
    _b(
        "history.recent_infection_elsewhere",
        "bacteraemia, endocarditis, skin or urinary infection in the last 3 months",
    ),
    _b("history.indwelling_device", "central line, dialysis access, urinary catheter or other indwelling device"),
    _b("history.alcohol_misuse", "alcohol misuse"),
    _b("history.urinary_tract_abnormality", "kidney stones or another urinary tract abnormality"),
    _b("history.anticoagulant", "takes an anticoagulant"),
    Field("vitals.temperature_c", "number", 25.0, 45.0, label="temperature (°C)"),
    Field("vitals.heart_rate", "int", 20, 250, label="heart rate (beats/min)"),
    Field("vitals.respiratory_rate", "int", 3, 80, label="respiratory rate (breaths/min)"),
    Field("vitals.systolic_bp", "int", 40, 300, label="systolic blood pressure (mmHg)"),
    Field("vitals.usual_systolic_bp", "int", 60, 250, label="usual systolic blood pressure (mmHg)"),
    Field("vitals.spo2", "int", 50, 100, label="oxygen saturation (%)"),
    Field("vitals.spo2_scale", "int", 1, 2, label="NEWS2 SpO2 scale"),
    _b("vitals.on_oxygen", "on supplemental oxygen"),
    _e("vitals.consciousness", CONSCIOUSNESS, "level of consciousness (ACVPU)"),
    Field("vitals.hours_since_urine", "number", 0, 96, label="hours since urine last passed"),
    _b("vitals.new_oxygen_need", "new need for supplemental oxygen"),
    _b("vitals.new_arrhythmia", "new irregular heart rhythm"),
    Field("pain.sites", "enum_list", choices=PAIN_SITES, label="pain sites"),
    # true: pain.sites names sites known to hurt and says nothing of the others (a record of one
    # site, from FHIR); the sites not named stay unknown. Default: the list is every site.
    Field("pain.sites_partial", "bool", clinical=False, label="pain sites: only some are known"),
    _e("pain.distribution", DISTRIBUTION, "pain distribution"),
    _e("pain.laterality", LATERALITY, "pain laterality"),
    Field("pain.severity", "int", 0, 10, label="pain severity (0-10)"),
    Field("pain.duration_days", "number", 0, 3650, label="pain duration (days)"),
    _e("pain.trend", TREND, "pain trend"),
    _b("pain.night_pain", "severe night pain"),
    _e("pain.onset", ONSET, "how the pain started"),
    _b("pain.colicky", "pain that comes in waves"),
    _b("pain.worse_on_straining", "pain worse on coughing, sneezing or straining"),
    _b("symptoms.reported_fever", "reported fever"),
    _b("symptoms.rigors", "rigors (shaking chills)"),
    _b("symptoms.generalized_myalgia", "generalised muscle aches"),
    _b("symptoms.cough", "cough"),
    _b("symptoms.coryza", "coryza (runny nose)"),
    _b("symptoms.sore_throat", "sore throat"),
    _b("symptoms.vomiting", "vomiting"),
    _b("symptoms.diarrhoea", "diarrhoea"),
    _b("symptoms.reduced_oral_intake", "reduced oral intake"),
    _b("symptoms.dysuria", "dysuria"),
    _b("symptoms.urinary_frequency", "urinary frequency"),
    _b("symptoms.cloudy_urine", "cloudy urine"),
    _b("symptoms.haematuria", "haematuria"),
    _e("symptoms.headache", HEADACHE, "headache"),
    _b("symptoms.neck_stiffness", "neck stiffness"),
    _b("symptoms.photophobia", "photophobia"),
    _b("symptoms.non_blanching_rash", "non-blanching rash"),
    _b("symptoms.mottled_or_ashen_skin", "mottled or ashen skin"),
    _b("symptoms.cyanosis", "cyanosis"),
    _e("symptoms.leg_weakness", LEG_WEAKNESS, "new leg weakness"),
    _b("symptoms.leg_weakness_progressive", "leg weakness getting worse"),
    _b("symptoms.leg_numbness", "new leg numbness or tingling"),
    _b("symptoms.bilateral_sciatica", "sciatica in both legs"),
    _b("symptoms.numbness_both_legs", "numbness or tingling in both legs"),
    _b("symptoms.saddle_anaesthesia", "saddle numbness"),
    _b("symptoms.urinary_retention", "new difficulty passing urine"),
    _b("symptoms.urinary_incontinence", "new urinary incontinence"),
    _b("symptoms.faecal_incontinence", "new faecal incontinence"),
    _b("symptoms.sexual_dysfunction", "new sexual dysfunction"),
    _b("symptoms.unexplained_weight_loss", "unexplained weight loss"),
    _b("symptoms.behaviour_change_reported", "new behaviour change reported by others"),
    _b("symptoms.functional_decline", "acute functional decline"),
    _b("symptoms.seizure", "seizure"),
    _b(
        "symptoms.focal_neurological_deficit", "new weakness of the face or an arm, or new speech or vision disturbance"
    ),
    _b("symptoms.altered_bladder_sensation", "new change in bladder or rectal sensation"),
    _b("symptoms.difficulty_walking", "new difficulty walking"),
    _b("symptoms.chest_pain", "new chest pain"),
    _b("symptoms.syncope", "fainted or collapsed"),
    _b("symptoms.breathlessness", "new breathlessness"),
    _b("symptoms.pleuritic_pain", "pain worse on breathing in"),
    _b("symptoms.abdominal_pain", "abdominal pain"),
    _b("exam.cva_tenderness", "renal angle (CVA) tenderness"),
    _b("exam.reduced_perianal_sensation", "reduced perianal sensation"),
    _b("exam.kernig_or_brudzinski", "Kernig or Brudzinski sign"),
    _b("exam.spinal_tenderness", "focal spinal tenderness"),
    _b("exam.wound_or_device_infection", "infected wound, surgical site or line"),
    _b("labs.urine_nitrite", "urine nitrite (dipstick)"),
    _b("labs.urine_leukocytes", "urine leukocytes (dipstick)"),
    Field("labs.lactate_mmol_l", "number", 0, 30, label="lactate (mmol/L)"),
    Field("labs.wbc_10e9_l", "number", 0, 300, label="white cell count (10^9/L)"),
    Field("labs.crp_mg_l", "number", 0, 1000, label="C-reactive protein (mg/L)"),
)

BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(f.section for f in FIELDS if f.section))
ORDER: dict[str, int] = {f.path: i for i, f in enumerate(FIELDS)}
