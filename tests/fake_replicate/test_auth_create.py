"""§5.1-2: auth, the three create paths, 422s, and the shape of a 201."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tools.fake_replicate import FakeReplicate
from tools.fake_replicate.catalog import MUSICGEN

SCHNELL = "black-forest-labs/flux-schnell"
PROMPT = {"prompt": "a lighthouse at dusk"}


async def test_bad_or_missing_token_is_a_401_problem(fake: FakeReplicate) -> None:
    # The client raises ReplicateError with the HTTP status for a wrong token.
    wrong = client_for(fake, token="r8_wrong")
    with pytest.raises(ReplicateError) as raised:
        await wrong.models.predictions.async_create(model=SCHNELL, input=PROMPT)
    assert raised.value.status == 401
    assert raised.value.title == "Unauthenticated"
    # Without any Authorization header the body is problem+json.
    async with httpx.AsyncClient(base_url=fake.base_url) as raw:
        response = await raw.get("/v1/predictions")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "You did not pass a valid authentication token"
    assert fake.stats()["creates_total"] == 0


async def test_token_scheme_is_accepted_like_bearer(fake: FakeReplicate) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as raw:
        response = await raw.post(
            f"/v1/models/{SCHNELL}/predictions",
            json={"input": PROMPT},
            headers={"Authorization": f"Token {TOKEN}"},
        )
    assert response.status_code == 201


async def test_create_response_has_the_real_shape(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/v1/models/{SCHNELL}/predictions", json={"input": PROMPT})
    assert response.status_code == 201
    body = response.json()
    # Fields the 1.0.7 client requires, non-null, and none it would reject.
    assert body["status"] == "starting"
    assert isinstance(body["version"], str) and body["version"]
    assert body["model"] == SCHNELL and body["input"] == PROMPT
    assert body["logs"] == "" and body["error"] is None and body["created_at"].endswith("Z")
    assert set(body["urls"]) == {"get", "cancel", "web"}  # no "stream": null
    assert None not in body["urls"].values()
    # Fields not known yet are left out, as real create responses do.
    assert not {"output", "metrics", "started_at", "completed_at"} & set(body)
    assert response.headers["Location"] == body["urls"]["get"]
    assert body["urls"]["get"].startswith(str(http.base_url).rstrip("/") + "/v1/predictions/")
    assert response.headers["ratelimit-remaining"] == "599"
    assert int(response.headers["ratelimit-reset"]) > 0
    # Other endpoints count against the 3000/min bucket.
    got = await http.get(body["urls"]["get"])
    assert got.headers["ratelimit-remaining"] == "2999"


async def test_official_model_path(client: replicate.Client, fake: FakeReplicate) -> None:
    prediction = await client.models.predictions.async_create(model=SCHNELL, input=PROMPT)
    assert prediction.status == "starting" and prediction.model == SCHNELL
    assert fake.predictions[prediction.id].model == SCHNELL
    assert fake.stats()["creates"] == {SCHNELL: 1}


async def test_version_path_and_owner_name_forms(
    client: replicate.Client, fake: FakeReplicate
) -> None:
    # A community model by its 64-hex version id, and as owner/name:id.
    by_id = await client.predictions.async_create(
        version=MUSICGEN.version_id, input={"prompt": "jazz", "duration": 1}
    )
    assert by_id.model == "meta/musicgen" and by_id.version == MUSICGEN.version_id
    by_ref = await client.predictions.async_create(
        version=f"meta/musicgen:{MUSICGEN.version_id}", input={"duration": 1}
    )
    assert by_ref.model == "meta/musicgen"
    # An official model may be named without a version on this path.
    official = await client.predictions.async_create(version=SCHNELL, input=PROMPT)
    assert official.model == SCHNELL
    assert fake.stats()["creates"] == {"meta/musicgen": 2, SCHNELL: 1}


async def test_deployment_path(client: replicate.Client, fake: FakeReplicate) -> None:
    prediction = await asyncio.to_thread(
        client.deployments.predictions.create, deployment="reelsmith/frames", input=PROMPT
    )
    assert prediction.model == SCHNELL
    assert fake.predictions[prediction.id].deployment == "reelsmith/frames"
    with pytest.raises(ReplicateError) as raised:
        await client.predictions.async_create(deployment="reelsmith/nope", input=PROMPT)
    assert raised.value.status == 404


async def test_unknown_version_is_a_422(client: replicate.Client, http: httpx.AsyncClient) -> None:
    with pytest.raises(ReplicateError) as raised:
        await client.predictions.async_create(version="0" * 64, input=PROMPT)
    assert raised.value.status == 422
    assert raised.value.title == "Invalid version or not permitted"
    # A community model has no version-less path.
    response = await http.post("/v1/predictions", json={"version": "meta/musicgen", "input": {}})
    assert response.status_code == 422


async def test_input_validation_lists_invalid_fields(
    client: replicate.Client, http: httpx.AsyncClient, fake: FakeReplicate
) -> None:
    # The client surfaces the 422 with the title and detail.
    with pytest.raises(ReplicateError) as raised:
        await client.models.predictions.async_create(model=SCHNELL, input={})
    assert raised.value.status == 422
    assert raised.value.title == "Input validation failed"
    assert raised.value.detail == "- input: prompt is required\n"
    # The raw body lists every problem in invalid_fields.
    response = await http.post(
        f"/v1/models/{SCHNELL}/predictions",
        json={"input": {"prompt": 3, "num_outputs": 9, "aspect_ratio": "7:3"}},
    )
    assert response.status_code == 422
    fields = {f["field"]: f["type"] for f in response.json()["invalid_fields"]}
    assert fields == {
        "input.prompt": "invalid_type",
        "input.num_outputs": "less_than_equal",
        "input.aspect_ratio": "enum",
    }
    # Cross-field rules of the real models, and a missing input object.
    hailuo = await http.post(
        "/v1/models/minimax/hailuo-02/predictions",
        json={"input": {"prompt": "x", "duration": 10, "resolution": "1080p"}},
    )
    assert hailuo.json()["invalid_fields"][0]["field"] == "input.duration"
    missing = await http.post(f"/v1/models/{SCHNELL}/predictions", json={})
    assert missing.status_code == 422
    assert fake.stats()["creates_total"] == 0


async def test_unknown_model_and_prediction_are_404(
    client: replicate.Client, make_fake: MakeFake
) -> None:
    with pytest.raises(ReplicateError) as raised:
        await client.models.predictions.async_create(model="acme/nothing", input=PROMPT)
    assert raised.value.status == 404
    with pytest.raises(ReplicateError) as missing:
        await client.predictions.async_get("doesnotexist")
    assert missing.value.status == 404
    # Predictions belong to their token: another account cannot read them.
    other = await make_fake(extra_tokens=("r8_other",))
    mine = await client_for(other).models.predictions.async_create(model=SCHNELL, input=PROMPT)
    with pytest.raises(ReplicateError) as foreign:
        await client_for(other, "r8_other").predictions.async_get(mine.id)
    assert foreign.value.status == 404
