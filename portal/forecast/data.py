"""Read the CDC's CDSi supporting data (XML) into plain, immutable objects, once per process."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import portal
from portal.forecast.dates import Duration, parse_cdsi_date, parse_duration

PROJECT_ROOT = Path(portal.__file__).resolve().parents[1]
DATA_ROOT = PROJECT_ROOT / "data" / "cdsi"


def normalize_cvx(code: str) -> str:
    """CVX codes are written "08" in the supporting data and "8" in some records: compare them as numbers."""
    code = code.strip()
    return code.lstrip("0") or "0" if code.isdigit() else code


@dataclass(frozen=True)
class AgeRule:
    absolute_minimum: Duration | None
    minimum: Duration | None
    earliest_recommended: Duration | None
    latest_recommended: Duration | None
    maximum: Duration | None
    effective: date | None
    cessation: date | None


@dataclass(frozen=True)
class IntervalRule:
    from_previous: bool
    from_target_dose: int | None
    from_most_recent: frozenset[str]
    from_observation: bool
    absolute_minimum: Duration | None
    minimum: Duration | None
    earliest_recommended: Duration | None
    latest_recommended: Duration | None
    overrides: bool
    effective: date | None
    cessation: date | None


@dataclass(frozen=True)
class VaccineRule:
    cvx: str
    begin_age: Duration | None
    end_age: Duration | None
    mvx: str
    forecast: bool


@dataclass(frozen=True)
class Condition:
    kind: (
        str  # "age", "interval", "completed series", "vaccine count by age" (or "by date", "by date and age")
    )
    begin_age: Duration | None
    end_age: Duration | None
    start_date: date | None
    end_date: date | None
    interval: Duration | None
    dose_count: int
    valid_doses_only: bool
    count_logic: str  # "greater than", "equal to", "less than"
    vaccine_types: frozenset[str]
    series_groups: frozenset[str]


@dataclass(frozen=True)
class ConditionSet:
    conditions: tuple[Condition, ...]
    all_required: bool
    effective: date | None
    cessation: date | None


@dataclass(frozen=True)
class ConditionalSkip:
    context: str  # "evaluation", "forecast" or "both"
    all_sets_required: bool
    sets: tuple[ConditionSet, ...]


@dataclass(frozen=True)
class TargetDose:
    number: int
    ages: tuple[AgeRule, ...]
    intervals: tuple[IntervalRule, ...]
    allowable_intervals: tuple[IntervalRule, ...]
    preferable: tuple[VaccineRule, ...]
    allowable: tuple[VaccineRule, ...]
    inadvertent: frozenset[str]
    skips: tuple[ConditionalSkip, ...]
    recurring: bool
    season_start: date | None
    season_end: date | None


@dataclass(frozen=True)
class Series:
    name: str
    antigen: str
    vaccine_group: str
    series_type: str  # "Standard", "Risk", "Evaluation Only"
    genders: frozenset[str]
    default: bool
    product_path: bool
    group: str
    priority: str
    preference: int
    min_age_to_start: Duration | None
    max_age_to_start: Duration | None
    doses: tuple[TargetDose, ...]


@dataclass(frozen=True)
class Antigen:
    name: str
    series: tuple[Series, ...]
    immune_if_born_before: date | None


@dataclass(frozen=True)
class LiveVirusConflict:
    previous_cvx: str
    current_cvx: str
    begin: Duration
    minimum_end: Duration
    end: Duration


@dataclass(frozen=True)
class Association:
    antigen: str
    begin_age: Duration | None
    end_age: Duration | None


@dataclass(frozen=True)
class VaccineGroup:
    name: str
    antigens: tuple[str, ...]
    administer_full_group: bool


@dataclass(frozen=True)
class SupportingData:
    version: str
    antigens: dict[str, Antigen]
    vaccine_groups: dict[str, VaccineGroup]
    cvx_antigens: dict[str, tuple[Association, ...]]
    cvx_names: dict[str, str]
    live_virus_conflicts: tuple[LiveVirusConflict, ...]
    # The same conflicts by the vaccine given second: the forecaster looks them up per dose (625 of them).
    conflicts_by_current: dict[str, tuple[LiveVirusConflict, ...]]


def _text(element: ET.Element | None, tag: str) -> str:
    if element is None:
        return ""
    return (element.findtext(tag) or "").strip()


def _duration(element: ET.Element | None, tag: str) -> Duration | None:
    return parse_duration(_text(element, tag))


def _cvx_list(text: str) -> frozenset[str]:
    return frozenset(normalize_cvx(code) for code in re.split(r"[;,]", text) if code.strip())


def _age(element: ET.Element) -> AgeRule:
    return AgeRule(
        absolute_minimum=_duration(element, "absMinAge"),
        minimum=_duration(element, "minAge"),
        earliest_recommended=_duration(element, "earliestRecAge"),
        latest_recommended=_duration(element, "latestRecAge"),
        maximum=_duration(element, "maxAge"),
        effective=parse_cdsi_date(_text(element, "effectiveDate")),
        cessation=parse_cdsi_date(_text(element, "cessationDate")),
    )


def _interval(element: ET.Element) -> IntervalRule | None:
    target = _text(element, "fromTargetDose")
    most_recent = _cvx_list(_text(element, "fromMostRecent"))
    observation = element.find("fromRelevantObs")
    from_observation = observation is not None and bool(_text(observation, "code"))
    from_previous = _text(element, "fromPrevious").upper() == "Y"
    if not (from_previous or target or most_recent or from_observation):
        return None  # an empty <interval /> element
    return IntervalRule(
        from_previous=from_previous,
        from_target_dose=int(target) if target else None,
        from_most_recent=most_recent,
        from_observation=from_observation,
        absolute_minimum=_duration(element, "absMinInt"),
        minimum=_duration(element, "minInt"),
        earliest_recommended=_duration(element, "earliestRecInt"),
        latest_recommended=_duration(element, "latestRecInt"),
        overrides=_text(element, "intervalPriority").lower() == "override",
        effective=parse_cdsi_date(_text(element, "effectiveDate")),
        cessation=parse_cdsi_date(_text(element, "cessationDate")),
    )


def _vaccines(parent: ET.Element, tag: str) -> tuple[VaccineRule, ...]:
    return tuple(
        VaccineRule(
            cvx=normalize_cvx(_text(element, "cvx")),
            begin_age=_duration(element, "beginAge"),
            end_age=_duration(element, "endAge"),
            mvx=_text(element, "mvx"),
            forecast=_text(element, "forecastVaccineType").upper() == "Y",
        )
        for element in parent.findall(tag)
        if _text(element, "cvx")
    )


def _condition(element: ET.Element) -> Condition:
    count = _text(element, "doseCount")
    return Condition(
        kind=_text(element, "conditionType").lower(),
        begin_age=_duration(element, "beginAge"),
        end_age=_duration(element, "endAge"),
        start_date=parse_cdsi_date(_text(element, "startDate")),
        end_date=parse_cdsi_date(_text(element, "endDate")),
        interval=_duration(element, "interval"),
        dose_count=int(count) if count else 0,
        valid_doses_only=_text(element, "doseType").lower() == "valid",
        count_logic=_text(element, "doseCountLogic").lower(),
        vaccine_types=_cvx_list(_text(element, "vaccineTypes")),
        series_groups=frozenset(g.strip() for g in _text(element, "seriesGroups").split(";") if g.strip()),
    )


def _skip(element: ET.Element) -> ConditionalSkip | None:
    sets = tuple(
        ConditionSet(
            conditions=tuple(_condition(c) for c in set_element.findall("condition")),
            all_required=_text(set_element, "conditionLogic").upper() == "AND",
            effective=parse_cdsi_date(_text(set_element, "effectiveDate")),
            cessation=parse_cdsi_date(_text(set_element, "cessationDate")),
        )
        for set_element in element.findall("set")
    )
    if not sets:
        return None
    return ConditionalSkip(
        context=_text(element, "context").lower(),
        all_sets_required=_text(element, "setLogic").upper() == "AND",
        sets=sets,
    )


def _target_dose(element: ET.Element) -> TargetDose:
    number = int(re.sub(r"\D", "", _text(element, "doseNumber")) or 0)
    season = element.find("seasonalRecommendation")
    return TargetDose(
        number=number,
        ages=tuple(_age(a) for a in element.findall("age")),
        intervals=tuple(i for i in map(_interval, element.findall("interval")) if i is not None),
        allowable_intervals=tuple(
            i for i in map(_interval, element.findall("allowableInterval")) if i is not None
        ),
        preferable=_vaccines(element, "preferableVaccine"),
        allowable=_vaccines(element, "allowableVaccine"),
        inadvertent=frozenset(
            normalize_cvx(_text(v, "cvx")) for v in element.findall("inadvertentVaccine") if _text(v, "cvx")
        ),
        skips=tuple(s for s in map(_skip, element.findall("conditionalSkip")) if s is not None),
        recurring=_text(element, "recurringDose").lower() == "yes",
        season_start=parse_cdsi_date(_text(season, "startDate")),
        season_end=parse_cdsi_date(_text(season, "endDate")),
    )


def _series(element: ET.Element) -> Series:
    select = element.find("selectSeries")
    preference = _text(select, "seriesPreference")
    return Series(
        name=_text(element, "seriesName"),
        antigen=_text(element, "targetDisease"),
        vaccine_group=_text(element, "vaccineGroup"),
        series_type=_text(element, "seriesType"),
        genders=frozenset(g.text.strip().lower() for g in element.findall("requiredGender") if g.text),
        default=_text(select, "defaultSeries").lower() == "yes",
        product_path=_text(select, "productPath").lower() == "yes",
        group=_text(select, "seriesGroup"),
        priority=_text(select, "seriesPriority") or "Z",
        preference=int(preference) if preference else 99,
        min_age_to_start=_duration(select, "minAgeToStart"),
        max_age_to_start=_duration(select, "maxAgeToStart"),
        doses=tuple(_target_dose(d) for d in element.findall("seriesDose")),
    )


def _antigen(path: Path) -> Antigen:
    root = ET.parse(path).getroot()
    series = tuple(_series(s) for s in root.findall("series"))
    born_before: date | None = None
    for birth in root.findall("immunity/dateOfBirth"):
        born_before = parse_cdsi_date(_text(birth, "immunityBirthDate"))
    return Antigen(name=series[0].antigen, series=series, immune_if_born_before=born_before)


def _schedule(path: Path, version: str, antigens: dict[str, Antigen]) -> SupportingData:
    root = ET.parse(path).getroot()
    conflicts = []
    for element in root.findall("liveVirusConflicts/liveVirusConflict"):
        begin, minimum_end, end = (
            _duration(element, tag)
            for tag in ("conflictBeginInterval", "minConflictEndInterval", "conflictEndInterval")
        )
        assert begin is not None and end is not None
        conflicts.append(
            LiveVirusConflict(
                previous_cvx=normalize_cvx(_text(element.find("previous"), "cvx")),
                current_cvx=normalize_cvx(_text(element.find("current"), "cvx")),
                begin=begin,
                minimum_end=minimum_end or end,
                end=end,
            )
        )
    full_group = {
        _text(g, "name"): _text(g, "administerFullVaccineGroup").lower() == "yes"
        for g in root.findall("vaccineGroups/vaccineGroup")
    }
    groups = {
        name: VaccineGroup(
            name=name,
            antigens=tuple((a.text or "").strip() for a in element.findall("antigen")),
            administer_full_group=full_group.get(name, False),
        )
        for element in root.findall("vaccineGroupToAntigenMap/vaccineGroupMap")
        if (name := _text(element, "name"))
    }
    cvx_antigens: dict[str, tuple[Association, ...]] = {}
    cvx_names: dict[str, str] = {}
    for element in root.findall("cvxToAntigenMap/cvxMap"):
        cvx = normalize_cvx(_text(element, "cvx"))
        cvx_names[cvx] = _text(element, "shortDescription")
        cvx_antigens[cvx] = tuple(
            Association(
                antigen=_text(a, "antigen"),
                begin_age=_duration(a, "associationBeginAge"),
                end_age=_duration(a, "associationEndAge"),
            )
            for a in element.findall("association")
        )
    return SupportingData(
        version=version,
        antigens=antigens,
        vaccine_groups=groups,
        cvx_antigens=cvx_antigens,
        cvx_names=cvx_names,
        live_virus_conflicts=tuple(conflicts),
        conflicts_by_current={
            cvx: tuple(c for c in conflicts if c.current_cvx == cvx)
            for cvx in {c.current_cvx for c in conflicts}
        },
    )


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name))


def latest_release(root: Path = DATA_ROOT) -> Path:
    """The folder of the newest release under data/cdsi (`supporting-data-<version>`)."""
    folders = [f for f in root.glob("supporting-data-*") if f.is_dir()]
    if not folders:
        raise FileNotFoundError(f"no CDSi supporting data under {root}")
    return max(folders, key=_version_key)


@functools.cache
def load(folder: Path | None = None) -> SupportingData:
    """The supporting data of one release (the newest by default), parsed once per process."""
    folder = folder or latest_release()
    antigens = {a.name: a for a in map(_antigen, sorted(folder.glob("AntigenSupportingData-*.xml")))}
    version = folder.name.removeprefix("supporting-data-")
    return _schedule(folder / "ScheduleSupportingData.xml", version, antigens)
