"""The emulator's sign-in page: a form that ends in the auth hub's session cookies."""

from __future__ import annotations

import httpx

from civitai_emulator import EmulatorConfig, running_emulator


def test_the_sign_in_page_sets_the_session_cookie_and_goes_back() -> None:
    with running_emulator(EmulatorConfig(seed=3, images=40)) as emu:
        page = httpx.get(emu.base_url + "/login?returnUrl=/collections/5")
        assert page.status_code == 200
        assert 'name="password"' in page.text and 'value="/collections/5"' in page.text

        owner = emu.dataset.owner.username
        answer = httpx.post(
            emu.base_url + "/login",
            data={"username": owner, "password": emu.password, "returnUrl": "/collections/5"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/collections/5"
        cookies = answer.headers.get_list("set-cookie")
        # Over plain http the cookies carry no __Secure- prefix (and no Secure flag).
        assert any(c.startswith(f"civ-token={emu.session_token};") for c in cookies)
        assert any(c.startswith("civ-device=") for c in cookies)
        assert all("HttpOnly" in c and "Secure" not in c for c in cookies)

        # Behind https (a proxy says so), the names are the real site's.
        secure = httpx.post(
            emu.base_url + "/login",
            data={"username": owner, "password": emu.password},
            headers={"x-forwarded-proto": "https"},
        )
        names = [c.split("=", 1)[0] for c in secure.headers.get_list("set-cookie")]
        assert names == ["__Secure-civ-token", "__Secure-civ-device"]
        assert secure.headers["location"] == "/"


def test_a_wrong_password_sets_nothing_and_an_outside_return_url_is_ignored() -> None:
    with running_emulator(EmulatorConfig(seed=3, images=40)) as emu:
        owner = emu.dataset.owner.username
        wrong = httpx.post(emu.base_url + "/login", data={"username": owner, "password": "x"})
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers
        assert "Wrong username or password" in wrong.text
        outside = httpx.post(
            emu.base_url + "/login",
            data={"username": owner, "password": emu.password, "returnUrl": "//evil.example/"},
        )
        assert outside.headers["location"] == "/"
