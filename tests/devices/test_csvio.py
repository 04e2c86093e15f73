from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from devices.csvio import FILES, AwayBound, check_folder, load_registry, save_registry
from devices.errors import DevicesError, RegistryError
from devices.model import Contact, QuietHours
from devices.registry import Registry
from devices.sample import sample_street
from tests.devices.factory import tiny


def write(folder: Path, name: str, text: str, *, bom: bool = False, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(("\ufeff" if bom else "").encode() + text.encode(encoding))


def problems_of(folder: Path) -> set[tuple[str, int, str]]:
    with pytest.raises(RegistryError) as info:
        load_registry(folder)
    return {(p.file, p.line, p.column) for p in info.value.problems}


def test_round_trip_tiny(tmp_path: Path) -> None:
    reg = tiny()
    written = save_registry(reg, tmp_path)
    assert sorted(p.name for p in written) == sorted(FILES)
    back = load_registry(tmp_path)
    assert back == reg
    assert back.households["h1"].care.emergency_contacts == (
        Contact("王伟", "13800000000", "儿子"),
        Contact("李娜", "13900000000"),
    )
    # saved files open in Excel: BOM + CRLF, Chinese in UTF-8
    raw = (tmp_path / "streets.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,name\r\n")
    assert "幸福街道".encode() in raw


def test_round_trip_sample_street(tmp_path: Path) -> None:
    reg = sample_street(3, days=2)
    save_registry(reg, tmp_path)
    assert load_registry(tmp_path) == reg


def minimal(folder: Path, *, bom: bool = False) -> None:
    write(folder, "streets.csv", "id,name\nst,幸福街道\n", bom=bom)
    write(folder, "communities.csv", "id,name,street_id\nc1,阳光社区,st\n", bom=bom)
    write(folder, "grids.csv", "id,name,community_id\ng1,第一网格,c1\n", bom=bom)
    write(folder, "microgrids.csv", "id,name,grid_id\nm1,桂花苑,g1\n", bom=bom)
    write(folder, "buildings.csv", "name,id,microgrid_id,floors\n1号楼,b1,m1,6\n2号楼,b2,m1,\n", bom=bom)


def test_spreadsheet_forms_accepted(tmp_path: Path) -> None:
    minimal(tmp_path, bom=True)
    write(
        tmp_path,
        "households.csv",
        "id,building_id,unit,floor,lives_alone,elderly,consent,emergency_contacts,quiet_hours,away_until,,\r\n"
        "h1,b1,1-101,1,YES,True,1,王伟|138 0000 0000|儿子; 李娜|13900000000,22:00-06:00,2026-03-05T18:00:00+08:00,,\r\n"
        "h2, b1 ,1-102,,no,false,0,,,,,\r\n"
        ",,,,,,,,,,,\r\n"
        'h3,b2,"2-2,01",1,是,否,y,,21:30-6:30,,,\r\n',
        bom=True,
    )
    write(
        tmp_path,
        "devices.csv",
        "id,device_class,building_id,household_id\nWM-1,water_meter,b1,h1\nAC-1,access_control,b2,\n",
    )
    reg = load_registry(tmp_path)
    h1, h2, h3 = reg.households["h1"], reg.households["h2"], reg.households["h3"]
    assert h1.care.watched
    assert h1.care.quiet_hours == QuietHours(time(22), time(6))
    assert h1.care.emergency_contacts[1] == Contact("李娜", "13900000000", "")
    assert h2.building_id == "b1"
    assert not h2.care.lives_alone
    assert h3.unit == "2-2,01"
    assert (h3.care.lives_alone, h3.care.elderly, h3.care.consent) == (True, False, True)
    assert h3.care.quiet_hours == QuietHours(time(21, 30), time(6, 30))
    assert reg.buildings["b2"].floors == 1
    assert reg.devices["WM-1"].expected_interval_s == 86_400
    assert reg.devices["AC-1"].household_id is None
    assert reg.people == {}


def test_every_problem_located_and_nothing_imported(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(
        tmp_path,
        "households.csv",
        "id,building_id,unit,floor,lives_alone,away_until,colour\n",  # unknown column: file refused as a whole
    )
    write(
        tmp_path,
        "people.csv",
        "id,name,role\n",  # scope_id missing
    )
    write(
        tmp_path,
        "devices.csv",
        "id,device_class,building_id,household_id,expected_interval_s,installed,label\n"
        'SD-1,smoke_detector,b1,,86400,2024-05-31,"客厅\n烟感"\n'  # a quoted cell over two lines (2-3)
        "SD-2,fridge,b1,,,,\n"  # line 4: bad class
        "SD-1,smoke_detector,b1,,,,\n"  # line 5: duplicate id
        "SD-3,smoke_detector,b9,,often,31/05/2024,\n"  # line 6: dangling building, bad int, bad date
        "SD-4,smoke_detector,b1,,,,,extra\n"  # line 7: too many cells
        "SD 5,smoke_detector,,,,,\n",  # line 8: bad id, building missing
    )
    write(
        tmp_path,
        "roster.csv",
        "person_id,microgrid_id,start,end\n"
        "p1,m1,2026-03-01T08:00:00,2026-03-01T20:00:00+08:00\n"  # naive start (p1: people.csv is unreadable)
        "p1,m9,2026-03-01T20:00:00+08:00,2026-03-01T08:00:00+08:00\n",  # ends before start; m9 unknown
    )
    write(tmp_path, "device.csv", "id\n")
    got = problems_of(tmp_path)
    assert got == {
        ("households.csv", 1, "colour"),
        ("people.csv", 1, "scope_id"),
        ("devices.csv", 4, "device_class"),
        ("devices.csv", 5, "id"),
        ("devices.csv", 6, "expected_interval_s"),
        ("devices.csv", 6, "installed"),
        ("devices.csv", 7, ""),
        ("devices.csv", 8, "id"),
        ("devices.csv", 8, "building_id"),
        ("roster.csv", 2, "start"),
        ("roster.csv", 3, "microgrid_id"),
        ("roster.csv", 3, "end"),
        ("device.csv", 0, ""),
    }


def test_reference_problems_reported_once(tmp_path: Path) -> None:
    """A refused building row is one problem; its households are not reported again as dangling."""
    minimal(tmp_path)
    write(tmp_path, "buildings.csv", "id,name,microgrid_id,floors\nb1,1号楼,m1,six\n")
    write(tmp_path, "households.csv", "id,building_id,unit\nh1,b1,1-101\nh2,b7,1-102\n")
    assert problems_of(tmp_path) == {("buildings.csv", 2, "floors"), ("households.csv", 3, "building_id")}


def test_messages_name_the_value_and_expectation(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(
        tmp_path,
        "households.csv",
        "id,building_id,unit,consent,quiet_hours,emergency_contacts\nh1,b1,1,maybe,22-6,王伟\n",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    text = str(info.value)
    assert "households.csv:2: consent: 'maybe': expected yes/no" in text
    assert "households.csv:2: quiet_hours: '22-6': expected HH:MM" in text
    assert "households.csv:2: emergency_contacts: '王伟': expected name|phone|relation" in text


def test_not_utf8_refused(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(tmp_path, "grids.csv", "id,name,community_id\ng1,第一网格,c1\n", encoding="gbk")
    # the unreadable file is one problem; micro-grids are not reported again for their dangling grid_id
    assert problems_of(tmp_path) == {("grids.csv", 2, "")}
    with pytest.raises(RegistryError, match="not UTF-8"):
        load_registry(tmp_path)


def test_empty_or_headerless_file(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(tmp_path, "people.csv", "")
    assert problems_of(tmp_path) == {("people.csv", 1, "")}


def test_missing_folder_and_missing_files(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope") == {(str(tmp_path / "nope"), 0, "")}
    (tmp_path / "empty").mkdir()
    assert load_registry(tmp_path / "empty") == Registry()


def test_save_refuses_contacts_the_form_cannot_hold(tmp_path: Path) -> None:
    from dataclasses import replace

    reg = tiny()
    h = reg.households["h1"]
    bad = replace(h, care=replace(h.care, emergency_contacts=(Contact("a|b", "1"),)))
    with pytest.raises(DevicesError, match="cannot hold"):
        save_registry(reg.with_changes(households=[bad]), tmp_path)


def test_examples_in_the_doc_load(tmp_path: Path) -> None:
    """The CSV examples of docs/registry.md, one block per file in order, form a valid registry."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "registry.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```csv\n")[1:]]
    assert len(blocks) == len(FILES)
    for name, block in zip(FILES, blocks, strict=True):
        write(tmp_path, name, block)
    reg = load_registry(tmp_path)
    assert reg.households["h-yg-1-1-03-0601"].care.watched
    assert reg.placement("WM-0000001") is not None


def test_phone_numbers_mangled_by_excel_refused(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(
        tmp_path,
        "people.csv",
        "id,name,role,scope_id,phone\np1,孙磊,grid_worker,m1,1.38E+10\np2,周杰,grid_worker,m1,138 0000 0000\n",
    )
    write(tmp_path, "households.csv", "id,building_id,unit,emergency_contacts\nh1,b1,1-101,王伟|1.39e+10|儿子\n")
    assert problems_of(tmp_path) == {("people.csv", 2, "phone"), ("households.csv", 2, "emergency_contacts")}


def test_header_problems_do_not_hide_row_problems(tmp_path: Path) -> None:
    """One round of fixes: a bad header is reported AND the rows are still read for their own problems."""
    minimal(tmp_path)
    write(
        tmp_path,
        "households.csv",
        "id,building_id,unit,flor,floor,floor\n"  # misspelt optional column, a repeated column
        "h1,b1,1-101,3,two,1\n"  # line 2: the first `floor` is read
        "h2,b1,1-102,3,1,x\n",
    )
    write(tmp_path, "devices.csv", "id,building_id,label\nWM-1,b1,水表\nWM 2,b1,水表\n")  # no device_class column
    assert problems_of(tmp_path) == {
        ("households.csv", 1, "flor"),
        ("households.csv", 1, "floor"),
        ("households.csv", 2, "floor"),
        ("devices.csv", 1, "device_class"),
        ("devices.csv", 3, "id"),
    }


def test_coordinates_email_and_gateway(tmp_path: Path) -> None:
    minimal(tmp_path)
    write(
        tmp_path,
        "buildings.csv",
        "id,name,microgrid_id,lat,lon\n"
        "b1,1号楼,m1,30.2741,120.1551\n"
        "b2,2号楼,m1,,\n"
        "b3,3号楼,m1,30°16′27″,120.1551\n"  # line 4: degrees and minutes
        "b4,4号楼,m1,30.2741,\n"  # line 5: lat alone
        "b5,5号楼,m1,120.1551,30.2741\n"  # line 6: swapped
        "b6,6号楼,m1,nan,1\n",  # line 7: not a number
    )
    write(tmp_path, "people.csv", "id,name,role,scope_id,email\np1,孙磊,grid_worker,m1,sun lei@example\n")
    write(
        tmp_path,
        "devices.csv",
        "id,device_class,building_id,gateway_id\nWM-1,water_meter,b1,lora-gw-03\nWM-2,water_meter,b1,网关1\n",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    assert {(p.file, p.line, p.column) for p in info.value.problems} == {
        ("buildings.csv", 4, "lat"),
        ("buildings.csv", 5, "lon"),
        ("buildings.csv", 6, "lat"),
        ("buildings.csv", 7, "lat"),
        ("people.csv", 2, "email"),
        ("devices.csv", 3, "gateway_id"),
    }
    text = str(info.value)
    assert "buildings.csv:4: lat: '30°16′27″': expected decimal degrees" in text
    assert "buildings.csv:5: lon: lat is given without lon" in text
    assert "buildings.csv:6: lat: latitude 120.1551 is not between -90 and 90 (lat and lon swapped?)" in text
    assert "people.csv:2: email: 'sun lei@example': expected an e-mail address" in text

    for name in ("people.csv", "devices.csv"):
        (tmp_path / name).unlink()
    write(tmp_path, "buildings.csv", "id,name,microgrid_id,lat,lon\nb1,1号楼,m1,30.2741,120.1551\nb2,2号楼,m1,,\n")
    write(tmp_path, "devices.csv", "id,device_class,building_id,gateway_id\nWM-1,water_meter,b1,lora-gw-03\n")
    reg = load_registry(tmp_path)
    assert (reg.buildings["b1"].lat, reg.buildings["b1"].lon) == (30.2741, 120.1551)
    assert (reg.buildings["b2"].lat, reg.buildings["b2"].lon) == (None, None)
    assert reg.devices["WM-1"].gateway_id == "lora-gw-03"


def test_device_class_and_offline_limit_cells(tmp_path: Path) -> None:
    """A device's class and its own offline limit: a duration in seconds or with a unit; bad ones are refused
    with file, line and column."""
    minimal(tmp_path)
    write(
        tmp_path,
        "devices.csv",
        "id,device_class,building_id,expected_interval_s,offline_after_s\n"
        "WM-1,water_meter,b1,3600,\n"  # line 2: by its class
        "WM-2,water_meter,b1,86400,3d\n"  # line 3: a meter uploading daily, its own limit
        "GD-1,gas_detector,b1,3600,20m\n"  # line 4: a detector on mains
        "WM-3,Water Meter,b1,3600,\n"  # line 5: not a class
        "WM-4,water_meter,b1,3600,a day\n"  # line 6: not a duration
        "WM-5,water_meter,b1,3600,0\n"  # line 7: no silence at all
        "WM-6,water_meter,b1,3600,-2h\n",  # line 8: negative
    )
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    assert {(p.file, p.line, p.column) for p in info.value.problems} == {
        ("devices.csv", 5, "device_class"),
        ("devices.csv", 6, "offline_after_s"),
        ("devices.csv", 7, "offline_after_s"),
        ("devices.csv", 8, "offline_after_s"),
    }
    text = str(info.value)
    assert "devices.csv:5: device_class: 'Water Meter': expected one of smoke_detector, water_meter" in text
    assert "devices.csv:6: offline_after_s: 'a day': expected a duration in whole seconds or as 90m, 12h, 1d" in text
    assert "devices.csv:7: offline_after_s: '0': expected a duration longer than zero" in text
    write(
        tmp_path,
        "devices.csv",
        "id,device_class,building_id,offline_after_s\nWM-2,water_meter,b1,3d\nGD-1,gas_detector,b1,20m\n",
    )
    reg = load_registry(tmp_path)
    assert (reg.devices["WM-2"].offline_after_s, reg.devices["GD-1"].offline_after_s) == (3 * 86_400, 20 * 60)
    save_registry(reg, tmp_path / "again")
    assert load_registry(tmp_path / "again") == reg


def test_a_persons_language_cell(tmp_path: Path) -> None:
    """`lang`: zh-CN or en, as a spreadsheet may write them (zh_CN, en-GB); another language is refused with file,
    line and column; an empty cell leaves the deployment's."""
    minimal(tmp_path)
    write(
        tmp_path,
        "people.csv",
        "id,name,role,scope_id,lang\n"
        "p1,孙磊,grid_worker,m1,zh_CN\n"
        "p2,Ann Lee,grid_worker,m1,en-GB\n"
        "p3,周杰,grid_worker,m1,\n"
        "p4,Jean,grid_worker,m1,fr\n",  # line 5
    )
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    assert {(p.file, p.line, p.column) for p in info.value.problems} == {("people.csv", 5, "lang")}
    assert "people.csv:5: lang: 'fr': expected a language: zh-CN or en" in str(info.value)
    write(
        tmp_path,
        "people.csv",
        "id,name,role,scope_id,lang\np1,孙磊,grid_worker,m1,zh_CN\np2,Ann,grid_worker,m1,en-GB\np3,周杰,grid_worker,m1,\n",
    )
    reg = load_registry(tmp_path)
    assert [reg.people[p].lang for p in ("p1", "p2", "p3")] == ["zh-CN", "en", None]


def test_an_import_holds_a_household_away_at_most_away_max_days(tmp_path: Path) -> None:
    """With the import's bound, `away_until` more than `care.away_max_days` after the import (9999 would silence
    the care rules for good) is refused, as is one still ahead without `away_reason`, each with its line and
    column in the reader's language; a past one is accepted (the household is simply not away)."""
    save_registry(tiny(), tmp_path)  # h1 away until 2026-03-05 18:00 +08:00, for a hospital stay
    march_1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert (
        load_registry(tmp_path, away=AwayBound(march_1, 30)).households["h1"].care.away_reason == "住院 hospital stay"
    )
    path = tmp_path / "households.csv"
    text = path.read_text(encoding="utf-8-sig")
    text = text.replace("2026-03-05T18:00:00+08:00", "9999-12-31T00:00:00+08:00")
    text = text.replace("h2,b1,1-102,1,no,no,no,,,,", "h2,b1,1-102,1,no,no,no,,,2026-03-10T08:00:00+08:00,")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, away=AwayBound(march_1, 30))
    problems = info.value.problems
    assert [(p.file, p.line, p.column) for p in problems] == [
        ("households.csv", 2, "away_until"),
        ("households.csv", 3, "away_reason"),
    ]
    assert str(problems[0]) == (
        "households.csv:2: away_until: away until 9999-12-31T00:00:00+08:00 is more than 30 days after the import "
        "(at the latest 2026-03-31T08:00:00+08:00, care.away_max_days)"
    )
    assert problems[0].text().in_lang("zh-CN") == (
        "households.csv:2: away_until: 外出截止时间 9999-12-31T00:00:00+08:00 超出导入时起 30 天"
        "（最晚 2026-03-31T08:00:00+08:00，care.away_max_days）"
    )
    assert "away_until 尚未到期时须填写外出原因" in problems[1].text().in_lang("zh-CN")
    # after h2's date, its missing reason no longer matters; 9999 is refused whenever it is imported
    later = datetime(2026, 3, 11, tzinfo=UTC).timestamp()
    assert [p.column for p in check_folder(tmp_path, away=AwayBound(later, 30))] == ["away_until"]
    assert check_folder(tmp_path) == []  # without a bound (a simulator's street, code): not checked
