import pytest
from django.test import Client

from chat import services
from tests.factories import make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/rooms/lobby/"])
def test_pages_need_login(path, user):
    make_room(creator=user)
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/healthz"])
def test_open_pages(path):
    assert Client().get(path).status_code == 200


def test_login_form_is_labelled_and_honours_next(user):
    page = Client().get("/accounts/login/?next=/rooms/lobby/").content.decode()
    assert '<label for="id_username">Username</label>' in page
    assert '<label for="id_password">Password</label>' in page
    assert ">Log in</button>" in page
    response = Client().post(
        "/accounts/login/",
        {"username": "alice", "password": "pw-Switchboard-1", "next": "/rooms/lobby/"},
    )
    assert response.status_code == 302 and response["Location"] == "/rooms/lobby/"


def test_failed_login_says_why(user):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_signup_validates_passwords_and_logs_in():
    client = Client()
    weak = client.post(
        "/accounts/signup/", {"username": "dora", "password1": "123", "password2": "123"}
    )
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    ok = client.post(
        "/accounts/signup/",
        {"username": "dora", "password1": "Tr0ub4dor&3x", "password2": "Tr0ub4dor&3x"},
    )
    assert ok.status_code == 302
    assert client.get("/").status_code == 200


def test_logout_is_post_only(browser):
    assert browser.get("/accounts/logout/").status_code == 405
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get("/").status_code == 302


def test_home_lists_joined_and_public_rooms_with_unread(browser, user, other):
    mine = make_room(creator=other, name="Engineering", slug="eng")
    services.room_join(room=mine, user=user)
    services.message_create(room=mine, author=other, body="ping")
    make_room(creator=other, name="Random", slug="random")
    make_room(creator=other, name="Hidden", slug="hidden", is_private=True)
    page = browser.get("/").content.decode()
    assert "Engineering" in page and "Random" in page and "Hidden" not in page
    assert 'aria-label="1 unread"' in page


def test_room_page_has_the_contract_landmarks(browser, user):
    make_room(creator=user, name="Lobby <script>", slug="lobby")
    page = browser.get("/rooms/lobby/").content.decode()
    assert 'aria-label="Messages"' in page
    assert '<label for="message-input"' in page and ">Message</label>" in page
    assert ">Send</button>" in page
    assert 'aria-label="Online"' in page
    assert "Lobby <script>" not in page and "Lobby &lt;script&gt;" in page


def test_private_room_page_is_404_for_outsiders(browser, other):
    make_room(creator=other, name="Secret", slug="secret", is_private=True)
    assert browser.get("/rooms/secret/").status_code == 404


def test_banned_user_sees_that_access_ended(browser, user, other):
    room = make_room(creator=other)
    services.room_join(room=room, user=user)
    services.member_ban(room=room, actor=other, target=user, reason="spam")
    response = browser.get("/rooms/lobby/")
    assert response.status_code == 403
    assert "You no longer have access to Lobby" in response.content.decode()
