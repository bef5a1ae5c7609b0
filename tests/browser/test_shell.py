"""The page shell every user meets: sign in, the navigation, sign out."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAV_LINKS = ["Projects", "Jobs", "Models", "Approvals", "Endpoints", "Team"]
PASSWORD = "a long and unguessable passphrase"


def test_sign_in_shows_the_navigation_and_sign_out_ends_the_session(
    page, live_server, login, django_user_model, js_errors
):
    django_user_model.objects.create_user(username="ada", password=PASSWORD)

    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Projects")).to_have_count(0)

    login(page, live_server, "ada", PASSWORD)

    expect(main_nav.get_by_role("link", name="SLM Studio")).to_be_visible()
    for name in NAV_LINKS:
        expect(main_nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(main_nav.get_by_role("link", name="Projects", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    page.get_by_test_id("user-menu").get_by_role("button").click()
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/accounts/(login|logout)/"))
    expect(main_nav.get_by_role("link", name="Projects")).to_have_count(0)
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert js_errors == []


def test_a_wrong_password_is_refused_and_the_next_page_is_kept(page, live_server, django_user_model):
    django_user_model.objects.create_user(username="ada", password=PASSWORD)

    jobs_path = reverse("training:job_list")
    page.goto(f"{live_server.url}/accounts/login/?next={jobs_path}")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(jobs_path) + "$"))
