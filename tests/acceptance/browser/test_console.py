"""What an admin does in the console, in Chromium, with the daemon processing for real."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.acceptance.browser.conftest import SALES, Stack, open_vehicle, shot, sign_in
from tests.acceptance.daemon.harness import STAGE_ORDER, studio_jpeg, wait_until

# Every (status, stage) a job card shows, in order, per job id.
RECORD_CARDS = """() => {
  window.__seen = {};
  const jobs = document.getElementById('jobs');
  const record = () => {
    for (const card of jobs.querySelectorAll('li.job')) {
      const seen = (window.__seen[card.dataset.jobId] ||= []);
      const now = `${card.dataset.status}/${card.dataset.stage}`;
      if (seen[seen.length - 1] !== now) seen.push(now);
    }
  };
  new MutationObserver(record).observe(jobs, { childList: true, subtree: true });
}"""


def photo(name: str, seed: int) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": studio_jpeg(seed=seed)}


def card(page: Page, name: str) -> Any:
    return page.locator("#jobs li.job").filter(has=page.get_by_role("heading", name=name))


def images_loaded(page: Page, selector: str) -> list[int]:
    script = "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    return list(page.eval_on_selector_all(selector, script))


def test_an_admin_uploads_three_photos_and_watches_them_processed_live(
    page: Page, stack: Stack
) -> None:
    sign_in(page, stack)
    open_vehicle(page, "VIN-LIVE-0001")
    shot(page, "01-signed-in")
    page.evaluate(RECORD_CARDS)
    page.get_by_label("Choose photos").set_input_files(
        [photo("front.jpg", 1), photo("side.jpg", 2), photo("rear.jpg", 3)]
    )
    expect(page.locator('#uploads li[data-state="queued"]')).to_have_count(3)
    shot(page, "02-uploaded")
    # Each file's bar went to 100 %.
    assert page.eval_on_selector_all("#uploads progress", "bars => bars.map(b => b.value)") == [
        100,
        100,
        100,
    ]
    expect(page.locator('#jobs li[data-status="succeeded"]')).to_have_count(3, timeout=60_000)
    wait_until(lambda: all(w > 0 for w in images_loaded(page, "#jobs img")), timeout=10)
    assert len(images_loaded(page, "#jobs img")) == 6  # original and processed, side by side
    shot(page, "03-succeeded")

    rows = stack.jobs("VIN-LIVE-0001")
    assert [r["status"] for r in rows] == ["succeeded"] * 3
    assert sorted(r["source_path"].rsplit("-", 1)[-1] for r in rows) == [
        "front.jpg",
        "rear.jpg",
        "side.jpg",
    ]
    assert all(r["options"] == {} for r in rows)
    seen: dict[str, list[str]] = page.evaluate("window.__seen")
    assert set(seen) == {str(r["id"]) for r in rows}
    for states in seen.values():
        assert states[0].startswith("queued/"), states
        assert states[-1] == "succeeded/done", states
        stages = [s.split("/")[1] for s in states if s.startswith("processing/")]
        assert stages, f"no stage was shown: {states}"
        order = [STAGE_ORDER.index(stage) for stage in stages]
        assert order == sorted(order), states
    # The processed image shown is the row's own variant.
    for row in rows:
        name = row["source_path"].rsplit("-", 1)[-1]
        src = card(page, name).get_by_role("img", name=f"Processed {name}").get_attribute("src")
        assert src == row["result"]["variants"]["detail"]["url"]
    # The queue at a glance counted them.
    expect(page.locator('#queue-counts [data-status="succeeded"] dd')).to_have_text("3")
    expect(page.locator("#queue-oldest")).to_have_text("Nothing is waiting.")


def test_a_broken_file_fails_with_its_sentence_and_can_be_retried(page: Page, stack: Stack) -> None:
    sign_in(page, stack)
    open_vehicle(page, "VIN-BROKEN-02")
    page.get_by_label("Choose photos").set_input_files(
        [{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo at all" * 40}]
    )
    broken = card(page, "broken.jpg")
    expect(broken).to_have_attribute("data-status", "failed", timeout=30_000)
    [row] = stack.jobs("VIN-BROKEN-02")
    assert row["error"]["code"] in ("corrupt_image", "unsupported_image"), row["error"]
    alert = broken.get_by_role("alert")
    expect(alert).to_have_text(f"{row['error']['code']} {row['error']['message']}")
    shot(page, "04-failed")

    page.get_by_role("button", name="Retry failed").click()
    expect(page.locator("#notice")).to_have_text("Queued 1 photo that failed again.")
    # Requeued (a new revision), then failed again for the same reason: the file is broken.
    expect(broken.locator(".meta")).to_contain_text("revision 1", timeout=30_000)
    expect(broken).to_have_attribute("data-status", "failed", timeout=30_000)
    [again] = stack.jobs("VIN-BROKEN-02")
    assert again["revision"] == 1 and again["error"]["code"] == row["error"]["code"]


def test_cancel_stops_a_job_in_flight_and_it_stays_cancelled(page: Page, stack: Stack) -> None:
    stack.api4ai.set_latency(3.0)  # the provider takes its time: the job is in flight
    try:
        sign_in(page, stack)
        open_vehicle(page, "VIN-CANCEL-03")
        page.get_by_label("Choose photos").set_input_files([photo("cancel-me.jpg", 4)])
        job = card(page, "cancel-me.jpg")
        expect(job).to_have_attribute("data-stage", "removing_background", timeout=30_000)
        page.get_by_role("button", name="Cancel cancel-me.jpg").click()
        expect(job).to_have_attribute("data-status", "cancelled")
        shot(page, "05-cancelled")
        time.sleep(4)  # past the provider's answer and a heartbeat: the worker gave up
    finally:
        stack.api4ai.set_latency(0.0)
    [row] = stack.jobs("VIN-CANCEL-03")
    assert row["status"] == "cancelled" and row["result"] is None
    expect(job).to_have_attribute("data-status", "cancelled")
    expect(job.get_by_role("button", name="Reprocess cancel-me.jpg")).to_be_visible()


def test_a_realtime_close_mid_job_loses_nothing_and_keeps_the_admin_token(
    page: Page, stack: Stack
) -> None:
    stack.api4ai.set_latency(3.0)
    try:
        sign_in(page, stack)
        open_vehicle(page, "VIN-RECONNECT-04")
        live = page.locator("#live")
        expect(live).to_have_attribute("data-subscribes", "1")
        page.evaluate(RECORD_CARDS)
        page.get_by_label("Choose photos").set_input_files([photo("through-a-drop.jpg", 5)])
        job = card(page, "through-a-drop.jpg")
        expect(job).to_have_attribute("data-stage", "removing_background", timeout=30_000)
        connects = stack.sb.realtime_connects
        stack.sb.close_realtime(1000)  # every socket: the page's and the daemon's
        expect(live).to_have_attribute("data-subscribes", "2", timeout=30_000)
        assert stack.sb.realtime_connects > connects
        # The rejoined channels run as the admin, not as anon: RLS still lets changes through.
        users = [c for c in stack.sb.channel_claims() if c.get("role") != "service_role"]
        assert users and all(
            c["role"] == "authenticated" and c["app_metadata"].get("role") == "admin" for c in users
        ), users
        expect(job).to_have_attribute("data-status", "succeeded", timeout=30_000)
    finally:
        stack.api4ai.set_latency(0.0)
    shot(page, "06-after-reconnect")
    [row] = stack.jobs("VIN-RECONNECT-04")
    assert row["status"] == "succeeded"
    seen: dict[str, list[str]] = page.evaluate("window.__seen")
    states = seen[str(row["id"])]
    # Stages after removing_background reached the page over the new socket, up to done.
    later = states[states.index("processing/removing_background") + 1 :]
    assert later and later[-1] == "succeeded/done", states


def test_a_non_admin_is_told_why_they_see_nothing(page: Page, stack: Stack) -> None:
    assert stack.sql("select count(*) n from processing_jobs")[0]["n"] > 0
    page.goto(stack.console_url)
    # Keyboard only: the form is reachable and submits with Enter.
    page.get_by_label("Email").focus()
    page.keyboard.type(SALES[0])
    page.keyboard.press("Tab")
    page.keyboard.type(SALES[1])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Nothing to show")).to_be_visible()
    expect(page.locator("#not-admin-text")).to_contain_text(
        f"You are signed in as {SALES[0]}, but this account is not a processing admin"
    )
    expect(page.locator("#app")).to_be_hidden()
    assert page.locator("#jobs li").count() == 0
    shot(page, "08-not-admin")


def test_a_wrong_password_says_so(page: Page, stack: Stack) -> None:
    sign_in(page, stack, (SALES[0], "not the password"))
    expect(page.get_by_role("alert")).to_have_text("Not signed in: Invalid login credentials.")
    expect(page.locator("#app")).to_be_hidden()


def test_presets_are_checked_in_the_page_saved_edited_and_used_to_reprocess_a_vehicle(
    page: Page, stack: Stack
) -> None:
    sign_in(page, stack)
    open_vehicle(page, "VIN-PRESET-05")
    page.get_by_label("Choose photos").set_input_files([photo("showroom.jpg", 6)])
    job = card(page, "showroom.jpg")
    expect(job).to_have_attribute("data-status", "succeeded", timeout=30_000)

    options = page.get_by_label("Options (JSON, checked against the options schema)")
    problems = page.locator("#preset-problems li")
    save = page.get_by_role("button", name="Save preset")
    page.get_by_label("Name").fill("showroom")
    options.fill('{"padding_percent": 2, "shadow": {"style": "spotlight"}}')
    expect(problems).to_have_text(
        [
            "padding_percent: 2 is greater than 1.",
            'shadow.style: Instance does not match any of ["contact","drop"].',
        ]
    )
    expect(save).to_be_disabled()
    shot(page, "07-preset-checked")
    options.fill('{"padding_percent": 0.1, "colour": "red"}')
    expect(problems).to_have_text(["colour is not an option."])
    options.fill('{"preset": "other"}')
    expect(problems).to_have_text(['A preset cannot name another preset: remove "preset".'])
    options.fill('{"padding_percent": 0.1,')
    expect(problems).to_have_count(1)
    expect(problems).to_contain_text("The options are not JSON")
    options.fill('{"padding_percent": 0.1, "background": "#ffffff"}')
    expect(problems).to_have_count(0)
    expect(save).to_be_enabled()
    save.click()
    expect(page.locator("#preset-status")).to_have_text("Saved preset showroom.")
    expect(page.locator('#preset-list li[data-preset="showroom"]')).to_be_visible()
    [saved] = stack.sql("select * from processing_presets where name = 'showroom'")
    assert saved["options"] == {"padding_percent": 0.1, "background": "#ffffff"}

    page.get_by_role("button", name="Edit preset showroom").click()
    page.get_by_label("Description").fill("White studio, a little more room")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator('#preset-list li[data-preset="showroom"]')).to_contain_text(
        "White studio, a little more room"
    )
    [edited] = stack.sql("select * from processing_presets where name = 'showroom'")
    assert edited["description"] == "White studio, a little more room"
    assert edited["updated_at"] > saved["updated_at"]

    # Reprocess the whole vehicle with the preset.
    [before] = stack.jobs("VIN-PRESET-05")
    page.get_by_label("Reprocess with").select_option("showroom")
    page.get_by_role("button", name="Reprocess all photos").click()
    expect(page.locator("#notice")).to_have_text(
        "Queued 1 photo for reprocessing with preset showroom."
    )
    expect(job.locator(".tag")).to_have_text("preset showroom")
    [requeued] = stack.jobs("VIN-PRESET-05")
    assert requeued["options"] == {"preset": "showroom"}
    assert requeued["revision"] == before["revision"] + 1
    assert requeued["finished_at"] is None or requeued["finished_at"] > before["finished_at"]
    expect(job.locator(".meta")).to_contain_text(f"revision {before['revision'] + 1}")
    expect(job).not_to_have_attribute("data-status", "queued", timeout=30_000)
    expect(job).not_to_have_attribute("data-status", "processing", timeout=30_000)
    shot(page, "09-reprocessed-with-preset")
    [final] = stack.jobs("VIN-PRESET-05")
    expect(job).to_have_attribute("data-status", final["status"])
    assert_preset_outcome(page, job, final)


def assert_preset_outcome(page: Page, job: Any, row: dict[str, Any]) -> None:
    """The daemon resolved the preset at claim time: its options, under its name, in the result;
    the page shows the new revision's variant."""
    assert row["status"] == "succeeded", row["error"]
    meta = row["result"]["metadata"]
    assert meta["preset"] == "showroom"
    assert meta["options"]["padding_percent"] == 0.1
    assert meta["options"]["background"] == "#ffffff"
    detail = row["result"]["variants"]["detail"]["url"]
    assert f"/r{row['revision']}/" in detail
    expect(job.get_by_role("img", name="Processed showroom.jpg")).to_have_attribute("src", detail)


def test_on_a_phone_the_console_fits_the_screen(page: Page, stack: Stack) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, stack)
    open_vehicle(page, "VIN-PHONE-06")
    page.get_by_label("Choose photos").set_input_files([photo("phone.jpg", 7)])
    job = card(page, "phone.jpg")
    expect(job).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator('#queue-counts [data-status="succeeded"] dd')).not_to_have_text("0")
    shot(page, "10-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width} px wide"
    # Touch targets: every button is at least 44 px tall.
    heights = page.eval_on_selector_all(
        "button:not([hidden])", "bs => bs.filter(b => b.offsetParent).map(b => b.offsetHeight)"
    )
    assert heights and min(heights) >= 44, heights
